import type { ILabelSelector } from '@kubernetes-models/apimachinery/apis/meta/v1/LabelSelector';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { INetworkPolicyPeer } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPeer';

/** A pod that would open a connection: its namespace (name and labels) and its own labels. */
export interface Peer {
  readonly namespace: string;
  readonly namespaceLabels: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
}

/** The container port connected to: its name and number. */
export interface TargetPort {
  readonly name: string;
  readonly port: number;
}

/** Whether a label selector selects these labels, as Kubernetes decides it ({} selects everything). */
export function selects(selector: ILabelSelector, labels: Readonly<Record<string, string>>): boolean {
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
  const byExpressions = (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
    switch (operator) {
      case 'In':
        return key in labels && values.includes(labels[key]);
      case 'NotIn':
        return !(key in labels) || !values.includes(labels[key]);
      case 'Exists':
        return key in labels;
      case 'DoesNotExist':
        return !(key in labels);
      default:
        throw new Error(`unknown selector operator ${operator}`);
    }
  });
  return byLabels && byExpressions;
}

function peerMatches(peer: INetworkPolicyPeer, from: Peer, policyNamespace: string): boolean {
  if (peer.ipBlock) return false; // pod-to-pod traffic is judged by selectors, not by address blocks
  const namespaceOk = peer.namespaceSelector ? selects(peer.namespaceSelector, from.namespaceLabels) : from.namespace === policyNamespace;
  const podOk = peer.podSelector ? selects(peer.podSelector, from.labels) : true;
  return namespaceOk && podOk;
}

/**
 * Whether a NetworkPolicy's ingress rules admit a connection from `from` to `port` of the pods it selects, by
 * the NetworkPolicy API's rules: a rule without ports allows every port, one without `from` every source, and a
 * peer with only a podSelector means pods in the policy's own namespace.
 */
export function admits(policy: INetworkPolicy, from: Peer, port: TargetPort): boolean {
  const spec = policy.spec!;
  if (!(spec.policyTypes ?? ['Ingress']).includes('Ingress')) return true;
  const policyNamespace = policy.metadata!.namespace!;
  return (spec.ingress ?? []).some((rule) => {
    const portOk = !rule.ports?.length || rule.ports.some((p) => p.port === undefined || p.port === port.name || p.port === port.port);
    const fromOk = !rule.from?.length || rule.from.some((peer) => peerMatches(peer, from, policyNamespace));
    return portOk && fromOk;
  });
}
