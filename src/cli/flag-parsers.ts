import { InvalidArgumentError } from 'commander';

export function fraction(value: string): number {
  const x = Number(value);
  if (!(x > 0 && x <= 1)) throw new InvalidArgumentError('expected a number in (0, 1]');
  return x;
}

/** Comma-separated fractions in (0, 1], each once. */
export function fractionList(value: string): number[] {
  const values = value.split(',').map((part) => fraction(part.trim()));
  if (new Set(values).size !== values.length) throw new InvalidArgumentError('a target is listed twice');
  return values;
}

export function positiveNumber(value: string): number {
  const x = Number(value);
  if (!(x > 0) || !Number.isFinite(x)) throw new InvalidArgumentError('expected a positive number');
  return x;
}

export function positiveInteger(value: string): number {
  const x = Number(value);
  if (!Number.isInteger(x) || x < 1) throw new InvalidArgumentError('expected a positive integer');
  return x;
}

export function nameList(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ];
}

/** A number, or a fraction written a/b (`1/255`). */
function numberOrFraction(text: string): number {
  const parts = text.trim().split('/');
  const x =
    parts.length === 2
      ? Number(parts[0]) / Number(parts[1])
      : parts.length === 1 && parts[0] !== ''
        ? Number(parts[0])
        : NaN;
  if (!Number.isFinite(x)) throw new InvalidArgumentError(`"${text}" is not a number`);
  return x;
}

export function positiveNumberOrFraction(value: string): number {
  const x = numberOrFraction(value);
  if (!(x > 0)) throw new InvalidArgumentError('expected a positive number (or a fraction such as 1/255)');
  return x;
}

/** One number, or one per channel: `0.5` or `0.485,0.456,0.406`. */
export function numberList(value: string): number[] {
  return value.split(',').map(numberOrFraction);
}

/** H or H,W: a square or a rectangular image size in pixels. */
export function imageSize(value: string): number[] {
  const sizes = value.split(',').map((s) => Number(s.trim()));
  if (sizes.length > 2 || !sizes.every((x) => Number.isInteger(x) && x >= 1))
    throw new InvalidArgumentError('expected H or H,W in pixels');
  return sizes;
}
