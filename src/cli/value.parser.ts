/**
 * The value of `set` and `put`: parsed as JSON when it is valid JSON (`5` is a number, `true` a boolean, `{"a":1}` an
 * object, `"5"` with its quotes the string 5), otherwise taken as the string it is (`ashish`, `hello world`).
 * `asString` keeps every value a string, for text that happens to look like JSON.
 */
export function parseValue(text: string, asString = false): unknown {
  if (asString) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
