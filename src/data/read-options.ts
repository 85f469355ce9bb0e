/** How images, audio and text become model inputs; unset fields follow the model's input shapes. */

export const PIXEL_LAYOUTS = ['nchw', 'nhwc'] as const;
export type PixelLayout = (typeof PIXEL_LAYOUTS)[number];
export const COLOUR_ORDERS = ['rgb', 'bgr', 'gray'] as const;
export type ColourOrder = (typeof COLOUR_ORDERS)[number];
export const PRESETS = ['imagenet', '0-1', '-1-1'] as const;
export type Preset = (typeof PRESETS)[number];
export const RESIZE_MODES = ['crop', 'stretch'] as const;
export type ResizeMode = (typeof RESIZE_MODES)[number];

export interface ImageOptions {
  /** [height] (square) or [height, width], for inputs whose size is not fixed. */
  imageSize?: number[];
  layout?: PixelLayout;
  channels?: ColourOrder;
  scale?: number;
  /** One value for every channel, or one per channel in the order the model takes them. */
  mean?: number[];
  std?: number[];
  preprocess?: Preset;
  resize?: ResizeMode;
}

export interface AudioOptions {
  sampleRate?: number;
  window?: number;
  hop?: number;
}

export interface TextOptions {
  /** A Hugging Face tokenizer.json (default: the one beside the model). */
  tokenizer?: string;
  textField?: string;
  maxLength?: number;
}

export interface ReadOptions extends ImageOptions, AudioOptions, TextOptions {
  /** The model the data is for: its folder is where a tokenizer.json is looked for. */
  modelPath?: string;
}
