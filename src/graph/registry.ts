import type { OpRule } from './types.ts';

const rules = new Map<string, OpRule>();

const key = (opType: string, domain: string) => `${domain === 'ai.onnx' ? '' : domain}:${opType}`;

/** Registers `rule` for each op type, in the default ONNX domain unless another is named (com.microsoft). */
export function registerRule(opTypes: string | string[], rule: OpRule, domain = ''): void {
  for (const op of Array.isArray(opTypes) ? opTypes : [opTypes]) rules.set(key(op, domain), rule);
}

export function ruleFor(opType: string, domain: string): OpRule | undefined {
  return rules.get(key(opType, domain));
}
