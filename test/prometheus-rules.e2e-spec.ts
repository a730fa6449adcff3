import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { CHART, helmBinaries, runHelm } from './helpers/helm';
import { parseManifests } from './helpers/helm-manifests';
import { readDoc, sectionOf } from './helpers/markdown';
import { promtool } from './helpers/prometheus';

/*
 * The chart's alerts, checked by the real promtool (Debian's prometheus package): `promtool check rules` on
 * the rules the chart renders, and `promtool test rules` with test/fixtures/prometheus/kv-store-alerts.test.yaml,
 * where every alert fires when it should and stays silent when healthy. Negative controls show the unit tests
 * bite, and every alert's runbook link must land on a section of the alert runbook in docs/operations.md.
 */

jest.setTimeout(60_000);

/** The document that holds the alert runbook, and its address as the chart's values give it. */
const RUNBOOK_DOC = 'docs/operations.md';
const RUNBOOK = `https://git.example.com/platform/kv-store/-/blob/main/${RUNBOOK_DOC}`;
const UNIT_TESTS = join(__dirname, 'fixtures', 'prometheus', 'kv-store-alerts.test.yaml');
const RULES_FILE = 'kv-store-rules.yaml';

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
interface Groups {
  groups: Array<{ name: string; rules: Rule[] }>;
}
interface UnitTests {
  tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
}

describe('the Helm chart\'s alert rules, checked with promtool', () => {
  let dir: string;
  let groups: Groups;
  const alerts = (): Rule[] => groups.groups.flatMap((g) => g.rules);

  /** Writes `rules` and the unit tests side by side in a fresh directory and runs promtool there. */
  const testRules = (rules: Groups, name: string) => {
    const at = join(dir, name);
    mkdirSync(at);
    writeFileSync(join(at, RULES_FILE), stringify(rules));
    writeFileSync(join(at, 'kv-store-alerts.test.yaml'), readFileSync(UNIT_TESTS));
    return promtool(['test', 'rules', 'kv-store-alerts.test.yaml'], at);
  };
  /** A copy of the rules with one alert's expression changed. */
  const withExpr = (alert: string, change: (expr: string) => string): Groups => ({
    groups: groups.groups.map((g) => ({ ...g, rules: g.rules.map((r) => (r.alert === alert ? { ...r, expr: change(r.expr) } : r)) })),
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kv-rules-'));
    const args = ['template', 'demo', CHART, '--namespace', 'kv-test', '--show-only', 'templates/prometheusrule.yaml'];
    args.push('--set-string', 'image.repository=registry.example.com/platform/kv-store', '--set', 'prometheusRule.enabled=true');
    args.push('--set-string', `prometheusRule.runbookUrl=${RUNBOOK}`, '--set-string', 'prometheusRule.alertLabels.team=platform');
    // Helm 3 and Helm 4 render the same rules.
    const rendered = await Promise.all(
      helmBinaries().map(async (helm) => {
        const result = await runHelm(helm, dir, args);
        if (result.code !== 0) throw new Error(`${helm.label}: helm template failed:\n${result.stderr}`);
        return parseManifests(result.stdout);
      }),
    );
    for (const docs of rendered.slice(1)) expect(docs).toEqual(rendered[0]);
    groups = { groups: (rendered[0][0].spec as Groups).groups };
    writeFileSync(join(dir, RULES_FILE), stringify(groups));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('passes promtool check rules', async () => {
    const result = await promtool(['check', 'rules', RULES_FILE], dir);
    expect(result).toEqual({ code: 0, output: expect.stringContaining(`SUCCESS: ${alerts().length} rules found`) });
    // Negative control: an expression Prometheus cannot parse fails the check.
    writeFileSync(join(dir, 'broken.yaml'), stringify(withExpr('KvStoreStoreUnavailable', (e) => `${e} ==`)));
    const broken = await promtool(['check', 'rules', 'broken.yaml'], dir);
    expect(broken.code).not.toBe(0);
    expect(broken.output).toMatch(/parse error|unexpected/);
  });

  it('passes promtool test rules: every alert fires when it should and stays silent when healthy', async () => {
    const result = await testRules(groups, 'as-rendered');
    expect(result).toEqual({ code: 0, output: expect.stringContaining('SUCCESS') });
  });

  it('has a firing and a silent case for every alert', () => {
    const cases = (parse(readFileSync(UNIT_TESTS, 'utf8')) as UnitTests).tests.flatMap((t) => t.alert_rule_test ?? []);
    const coverage = alerts().map(({ alert }) => ({
      alert,
      fires: cases.some((c) => c.alertname === alert && c.exp_alerts.length > 0),
      silent: cases.some((c) => c.alertname === alert && c.exp_alerts.length === 0),
    }));
    expect(coverage).toEqual(alerts().map(({ alert }) => ({ alert, fires: true, silent: true })));
    // And no case for an alert the chart does not have.
    expect([...new Set(cases.map((c) => c.alertname))].sort()).toEqual(alerts().map((a) => a.alert).sort());
  });

  it('fails the unit tests when an alert misbehaves (the tests bite)', async () => {
    const [inverted, noNewSeries] = await Promise.all([
      testRules(withExpr('KvStoreStoreUnavailable', (e) => e.replace('== 0', '== 1')), 'inverted'),
      // Without its second half, the dead-letter alert misses a counter born with its first dead letter.
      testRules(withExpr('KvStoreWebhookDeadLetters', (e) => e.split('\nor\n')[0]), 'increase-only'),
    ]);
    expect(inverted.code).not.toBe(0);
    expect(inverted.output).toContain('alertname: KvStoreStoreUnavailable');
    expect(noNewSeries.code).not.toBe(0);
    expect(noNewSeries.output).toContain('alertname: KvStoreWebhookDeadLetters, time: 12m');
  });

  it("gives every alert a severity, a summary, a description and a link to its own section of the runbook", () => {
    const [runbook, ...entries] = sectionOf(readDoc(RUNBOOK_DOC), 'Alert runbook');
    expect(runbook).toBeDefined();
    const sections = entries.map((h) => h.anchor);
    for (const rule of alerts()) {
      expect({ alert: rule.alert, severity: rule.labels.severity }).toEqual({ alert: rule.alert, severity: expect.stringMatching(/^(critical|warning)$/) });
      expect(rule.annotations.summary.length).toBeGreaterThan(10);
      expect(rule.annotations.description.length).toBeGreaterThan(rule.annotations.summary.length);
      const [base, anchor] = rule.annotations.runbook_url.split('#');
      expect({ alert: rule.alert, base, inRunbook: sections.includes(anchor) }).toEqual({ alert: rule.alert, base: RUNBOOK, inRunbook: true });
    }
  });
});
