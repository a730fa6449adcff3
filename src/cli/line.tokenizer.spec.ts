import { CliError } from './cli.errors';
import { splitLine } from './line.tokenizer';

describe('splitLine (the shell\'s argument splitting)', () => {
  it.each([
    ['set a 1', ['set', 'a', '1']],
    ['  get   a  ', ['get', 'a']],
    ['', []],
    ['set "b c" \'hello world\'', ['set', 'b c', 'hello world']],
    ['set k ""', ['set', 'k', '']],
    ['set k "say \\"hi\\" \\\\ ok"', ['set', 'k', 'say "hi" \\ ok']],
    ["set k 'no \\escapes'", ['set', 'k', 'no \\escapes']],
    ['set user {"name":"ashish"}', ['set', 'user', '{"name":"ashish"}']],
    ['set k \'{"a": 1}\'', ['set', 'k', '{"a": 1}']],
    ['set k "a b"c', ['set', 'k', 'a bc']],
  ])('%j → %j', (line, words) => {
    expect(splitLine(line)).toEqual(words);
  });

  it.each(['set k "open', "set k 'open"])('refuses an unterminated quote: %j', (line) => {
    expect(() => splitLine(line)).toThrow(CliError);
    expect(() => splitLine(line)).toThrow(/unterminated/);
  });
});
