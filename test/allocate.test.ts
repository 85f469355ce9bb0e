import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  allocateChannels,
  allowedSizes,
  type AllocationInput,
  type Budget,
  spaceRounding,
} from '../src/compress/allocate.ts';
import type { ChannelRanking } from '../src/compress/selection.ts';
import { type CostTerm, totalCost } from '../src/graph/cost.ts';

/** A ranking whose relative error falls as `decay`^k (smaller decay = more redundant channels). */
function ranking(channels: number, decay: number): ChannelRanking {
  const relativeError = Float64Array.from({ length: channels + 1 }, (_, k) => (k === channels ? 0 : decay ** k));
  return { order: Array.from({ length: channels }, (_, c) => c), relativeError, rank: channels };
}

/** Two spaces, 0 (16 channels) then 1 (32 channels), in a chain of three layers, plus a fixed cost. */
function chain(budget: Budget, decays = [0.8, 0.8], extra: Partial<AllocationInput> = {}): AllocationInput {
  const flops: CostTerm[] = [
    { value: 1000, spaces: [0] },
    { value: 4000, spaces: [0, 1] },
    { value: 500, spaces: [1] },
    { value: 100, spaces: [] },
  ];
  return {
    spaces: new Map([
      [0, { channels: 16, ranking: ranking(16, decays[0]), readPoints: 1 }],
      [1, { channels: 32, ranking: ranking(32, decays[1]), readPoints: 1 }],
    ]),
    flops,
    params: flops,
    budget,
    roundTo: 1,
    minKeep: 1,
    ...extra,
  };
}

const costAfter = (input: AllocationInput, kept: Map<number, number>) =>
  totalCost(input.flops, (s) => kept.get(s)! / input.spaces.get(s)!.channels);

describe('allocation', () => {
  it('meets a FLOPs target', () => {
    const input = chain({ kind: 'flops', fraction: 0.5 });
    const kept = allocateChannels(input);
    assert.ok(costAfter(input, kept) <= 0.5 * 5600);
  });

  it('keeps given fractions of neurons and of heads', () => {
    const input = chain({ kind: 'keep', neurons: 0.25, heads: 0.5 });
    input.spaces.get(1)!.unit = 4; // 32 heads
    assert.deepEqual(
      [...allocateChannels(input)],
      [
        [0, 4],
        [1, 16],
      ],
    );
    assert.deepEqual(
      [...allocateChannels({ ...input, budget: { kind: 'keep', heads: 0.75 } })],
      [
        [0, 16],
        [1, 24],
      ],
    );
  });

  it('spends the budget where the measured output error grows least, when measured', () => {
    const input = chain({ kind: 'flops', fraction: 0.6 });
    // Measured: space 0 hurts the outputs far more than its own error says.
    input.spaces.get(0)!.outputError = Float64Array.from({ length: 17 }, (_, k) => (16 - k) * 10);
    input.spaces.get(1)!.outputError = Float64Array.from({ length: 33 }, (_, k) => (32 - k) * 0.01);
    const kept = allocateChannels(input);
    assert.equal(kept.get(0), 16);
    assert.ok(kept.get(1)! < 32);
  });

  it('takes more from the space whose error grows more slowly', () => {
    const kept = allocateChannels(chain({ kind: 'flops', fraction: 0.5 }, [0.95, 0.5]));
    assert.ok(kept.get(0)! / 16 > kept.get(1)! / 32);
  });

  it('spares a space whose error reaches more read points', () => {
    const once = allocateChannels(chain({ kind: 'flops', fraction: 0.5 }));
    const input = chain({ kind: 'flops', fraction: 0.5 });
    input.spaces.get(1)!.readPoints = 4;
    const fourTimes = allocateChannels(input);
    assert.ok(fourTimes.get(1)! > once.get(1)!);
  });

  it('keeps counts that are multiples of --round-to', () => {
    const kept = allocateChannels(chain({ kind: 'flops', fraction: 0.4 }, [0.8, 0.8], { roundTo: 8 }));
    for (const k of kept.values()) assert.equal(k % 8, 0);
  });

  it('rounds a space of heads to whole heads whose neurons are multiples of --round-to', () => {
    const input = chain({ kind: 'flops', fraction: 0.3 }, [0.8, 0.8], { roundTo: 8 });
    input.spaces.set(1, { channels: 8, unit: 4, ranking: ranking(8, 0.8), readPoints: 1 });
    const kept = allocateChannels(input);
    assert.ok(kept.get(1)! < 8, 'heads were removed');
    assert.equal((kept.get(1)! * 4) % 8, 0);
  });

  it('keeps a fixed fraction per space as the allowed size nearest to it', () => {
    const kept = allocateChannels(chain({ kind: 'keep', neurons: 0.4 }, [0.8, 0.8], { roundTo: 8 }));
    // 0.4 × 16 = 6.4 → 8; 0.4 × 32 = 12.8 → 16.
    assert.deepEqual([kept.get(0), kept.get(1)], [8, 16]);
  });

  it('with --round-to, gives back any step that still fits the target', () => {
    const input = chain({ kind: 'flops', fraction: 0.45 }, [0.8, 0.8], { roundTo: 8 });
    const kept = allocateChannels(input);
    assert.ok(costAfter(input, kept) <= 0.45 * 5600);
    for (const [id, k] of kept) {
      const channels = input.spaces.get(id)!.channels;
      if (k === channels) continue;
      const larger = new Map(kept).set(id, Math.min(channels, k + 8));
      assert.ok(costAfter(input, larger) > 0.45 * 5600, `space ${id} could keep 8 more channels`);
    }
  });

  it('keeps at least --min-keep channels', () => {
    const kept = allocateChannels(chain({ kind: 'flops', fraction: 0.2 }, [0.1, 0.99], { minKeep: 6 }));
    for (const k of kept.values()) assert.ok(k >= 6);
  });

  it('keeps the fewest channels within a tolerance', () => {
    const kept = allocateChannels(chain({ kind: 'tolerance', error: 0.5 }, [0.8, 0.5]));
    // sqrt(0.8^k) ≤ 0.5 first at k = 7; sqrt(0.5^k) ≤ 0.5 at k = 2.
    assert.deepEqual([kept.get(0), kept.get(1)], [7, 2]);
  });

  it('refuses a target below what pruning every space can reach', () => {
    assert.throws(
      () => allocateChannels(chain({ kind: 'flops', fraction: 0.01 })),
      /target flops 0.01 is not reachable/,
    );
  });

  it('rounds a narrow space finer, so that one step removes at most about a twelfth of it', () => {
    assert.deepEqual(
      [96, 95, 64, 48, 24, 16, 8].map((c) => spaceRounding(c, 8)),
      [8, 4, 4, 4, 2, 1, 1],
    );
    assert.equal(spaceRounding(1000, 4), 4);
  });

  it('lists allowed sizes from all channels down to the minimum', () => {
    assert.deepEqual(allowedSizes(10, 4, 1), [10, 8, 4]);
    assert.deepEqual(allowedSizes(10, 1, 8), [10, 9, 8]);
  });
});
