import { LabelSelector } from '@kubernetes-models/apimachinery/apis/meta/v1/LabelSelector';
import { ObjectMeta } from '@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { parseAllDocuments } from 'yaml';

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** Parses `helm template` output: one object per non-empty YAML document. */
export function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(`helm rendered invalid YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as Manifest | null;
    return value === null ? [] : [value];
  });
}

type Validatable = new (data: never) => { validate(): void };

/** The kubernetes-models class (generated from the Kubernetes OpenAPI schemas) of every kind the chart renders. */
const MODELS: Record<string, Validatable> = {
  'v1/ConfigMap': ConfigMap,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Pod': Pod,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/Ingress': Ingress,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

interface SchemaError {
  instancePath: string;
  message?: string;
}

function schemaErrors(Model: Validatable, data: unknown): SchemaError[] {
  try {
    new Model(structuredClone(data) as never).validate();
    return [];
  } catch (error) {
    const errors = (error as { errors?: SchemaError[] }).errors;
    if (!errors) throw error;
    return errors;
  }
}

const pointer = (path: string[]): string => path.map((p) => `/${p.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');

function setAt(root: unknown, path: string[], value: unknown): void {
  let node = root as Record<string, unknown>;
  for (const step of path.slice(0, -1)) node = node[step] as Record<string, unknown>;
  node[path[path.length - 1]] = value;
}

/**
 * Fields the schema does not know. The generated validators ignore unknown properties, but the API server
 * drops them (or, with strict field validation, rejects the object), so a misspelt field in a template
 * would silently do nothing. A field is known when the validator checks it: put a value of an impossible
 * type in its place and see whether an error points at it. `true` fails every type except boolean, and a
 * fraction fails every type except number; free-form maps (labels, data) type their values, so their keys
 * count as known too.
 */
function unknownFields(Model: Validatable, root: unknown): string[] {
  const unknown: string[] = [];
  const visit = (node: unknown, path: string[]): void => {
    if (Array.isArray(node)) {
      node.forEach((item, index) => visit(item, [...path, String(index)]));
      return;
    }
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      const at = [...path, key];
      const checked = [true, 0.5].some((sentinel) => {
        const probe = structuredClone(root);
        setAt(probe, at, sentinel);
        return schemaErrors(Model, probe).some((e) => e.instancePath === pointer(at));
      });
      if (checked) visit(value, at);
      else unknown.push(pointer(at));
    }
  };
  visit(root, []);
  return unknown;
}

function requireFields(value: unknown, path: string, shape: Record<string, 'string' | 'boolean' | 'object' | 'array'>, required: string[]): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [`${path} must be an object`];
  const problems: string[] = [];
  for (const [key, field] of Object.entries(value)) {
    const expected = shape[key];
    if (!expected) problems.push(`${path}.${key} is not a field this check knows`);
    else if (expected === 'array' ? !Array.isArray(field) : typeof field !== expected || Array.isArray(field)) problems.push(`${path}.${key} must be ${expected}`);
  }
  for (const key of required) if (!(key in value)) problems.push(`${path}.${key} is required`);
  return problems;
}

const DURATION = /^(\d+(\.\d+)?(ms|s|m|h))+$/;

/**
 * ServiceMonitor is a Prometheus Operator CRD that kubernetes-models does not carry: its metadata and label
 * selector are checked with the Kubernetes models, the rest against the CRD's fields the chart uses.
 */
function serviceMonitorProblems(object: Manifest): string[] {
  const problems = requireFields(object, 'ServiceMonitor', { apiVersion: 'string', kind: 'string', metadata: 'object', spec: 'object' }, ['metadata', 'spec']);
  if (object.apiVersion !== 'monitoring.coreos.com/v1') problems.push(`apiVersion ${object.apiVersion} is not monitoring.coreos.com/v1`);
  problems.push(...schemaErrors(ObjectMeta, object.metadata).map((e) => `metadata${e.instancePath} ${e.message}`));
  const spec = object.spec as Record<string, unknown>;
  problems.push(...requireFields(spec, 'spec', { selector: 'object', namespaceSelector: 'object', endpoints: 'array', jobLabel: 'string' }, ['selector', 'endpoints']));
  problems.push(...schemaErrors(LabelSelector, spec.selector).map((e) => `spec.selector${e.instancePath} ${e.message}`));
  if (spec.namespaceSelector) problems.push(...requireFields(spec.namespaceSelector, 'spec.namespaceSelector', { any: 'boolean', matchNames: 'array' }, []));
  const endpointShape = { port: 'string', path: 'string', scheme: 'string', interval: 'string', scrapeTimeout: 'string', honorLabels: 'boolean', relabelings: 'array', metricRelabelings: 'array' } as const;
  for (const [index, endpoint] of ((spec.endpoints as unknown[]) ?? []).entries()) {
    const path = `spec.endpoints[${index}]`;
    problems.push(...requireFields(endpoint, path, endpointShape, ['port']));
    const { interval, scrapeTimeout } = endpoint as { interval?: string; scrapeTimeout?: string };
    for (const [name, value] of Object.entries({ interval, scrapeTimeout })) {
      if (value !== undefined && !DURATION.test(value)) problems.push(`${path}.${name} ${value} is not a Prometheus duration`);
    }
  }
  return problems;
}

/**
 * PrometheusRule, the other Prometheus Operator CRD: metadata with the Kubernetes models, the rule groups
 * against the CRD's fields (promtool checks the rules themselves: test/prometheus-rules.e2e-spec.ts).
 */
function prometheusRuleProblems(object: Manifest): string[] {
  const problems = requireFields(object, 'PrometheusRule', { apiVersion: 'string', kind: 'string', metadata: 'object', spec: 'object' }, ['metadata', 'spec']);
  if (object.apiVersion !== 'monitoring.coreos.com/v1') problems.push(`apiVersion ${object.apiVersion} is not monitoring.coreos.com/v1`);
  problems.push(...schemaErrors(ObjectMeta, object.metadata).map((e) => `metadata${e.instancePath} ${e.message}`));
  const spec = object.spec as Record<string, unknown>;
  problems.push(...requireFields(spec, 'spec', { groups: 'array' }, ['groups']));
  const ruleShape = { alert: 'string', record: 'string', expr: 'string', for: 'string', keep_firing_for: 'string', labels: 'object', annotations: 'object' } as const;
  for (const [g, group] of ((spec.groups as unknown[]) ?? []).entries()) {
    problems.push(...requireFields(group, `spec.groups[${g}]`, { name: 'string', interval: 'string', rules: 'array' }, ['name', 'rules']));
    for (const [r, rule] of (((group as { rules?: unknown[] }).rules ?? []) as unknown[]).entries()) {
      const path = `spec.groups[${g}].rules[${r}]`;
      problems.push(...requireFields(rule, path, ruleShape, ['expr']));
      const { alert, record, for: pending, labels, annotations } = rule as Record<string, unknown>;
      if ((alert === undefined) === (record === undefined)) problems.push(`${path} needs exactly one of alert and record`);
      if (pending !== undefined && !DURATION.test(pending as string)) problems.push(`${path}.for ${String(pending)} is not a Prometheus duration`);
      for (const [name, map] of Object.entries({ labels, annotations })) {
        for (const [key, value] of Object.entries((map ?? {}) as Record<string, unknown>)) {
          if (typeof value !== 'string') problems.push(`${path}.${name}.${key} must be a string`);
        }
      }
    }
  }
  return problems;
}

function problems(object: Manifest): string[] {
  if (object.kind === 'ServiceMonitor') return serviceMonitorProblems(object);
  if (object.kind === 'PrometheusRule') return prometheusRuleProblems(object);
  const Model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (!Model) return [`${object.apiVersion} ${object.kind} has no model to validate it against`];
  const errors = schemaErrors(Model, object).map((e) => `${e.instancePath || '/'} ${e.message}`);
  return errors.length > 0 ? errors : unknownFields(Model, object).map((path) => `${path} is not a field of ${object.kind}`);
}

/** Results by object, as the same objects come from several Helm versions and values files. */
const checked = new Map<string, string[]>();

/** Every problem the API server would find in the object's shape: schema errors and unknown fields. */
export function manifestProblems(object: Manifest): string[] {
  const key = JSON.stringify(object);
  let found = checked.get(key);
  if (!found) checked.set(key, (found = problems(object)));
  return found;
}
