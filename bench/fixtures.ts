import { readFileSync } from 'node:fs';
import { parseNpy } from '../src/calibrate/npy.ts';

export const FIXTURES = ['mlp', 'vgg', 'resnet'] as const;
export type Fixture = (typeof FIXTURES)[number];

const dir = new URL('../test/fixtures/', import.meta.url).pathname;

export const fixturePath = (name: string) => `${dir}${name}`;
export const loadArray = (name: string) => parseNpy(new Uint8Array(readFileSync(fixturePath(name))), name);
export const loadModel = (fixture: Fixture) => new Uint8Array(readFileSync(fixturePath(`${fixture}.onnx`)));
