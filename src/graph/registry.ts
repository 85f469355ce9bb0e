import type { OpRule } from './types.ts';

const rules = new Map<string, OpRule>();

/** Registers `rule` for each op type (default ONNX domain). */
export function registerRule(opTypes: string | string[], rule: OpRule): void {
  for (const op of Array.isArray(opTypes) ? opTypes : [opTypes]) rules.set(op, rule);
}

export function ruleFor(opType: string, domain: string): OpRule | undefined {
  return domain === '' || domain === 'ai.onnx' ? rules.get(opType) : undefined;
}
