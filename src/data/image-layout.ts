import { IdpruneError } from '../errors.ts';
import { batchAxis, type InputSpec } from '../onnx/shapes.ts';
import type { ColourOrder, ImageOptions, PixelLayout, ResizeMode } from './read-options.ts';

/** Where decoded pixels go in one sample of a model's image input. */
export interface ImageLayout {
  layout: PixelLayout;
  colour: ColourOrder;
  channels: number;
  height: number;
  width: number;
  resize: ResizeMode;
  /** One sample's shape as the model takes it, without the batch axis. */
  sample: number[];
}

const IMAGE_TYPES = ['float32', 'float16', 'float64', 'uint8'];

export const channelCount = (colour: ColourOrder) => (colour === 'gray' ? 1 : 3);

/**
 * Reads the layout off the model's input: [batch, channels, height, width] (nchw),
 * [batch, height, width, channels] (nhwc) or [batch, height, width] (one gray channel). Sizes come
 * from fixed dimensions, else from `imageSize`; a given option that contradicts the model is refused.
 */
export function imageLayout(input: InputSpec, options: ImageOptions, source: string): ImageLayout {
  const dims = input.dims;
  const where = `${source}: model input "${input.name}" [${dims.map((d) => d ?? '?').join(', ')}]`;
  if (!IMAGE_TYPES.includes(input.type))
    throw new IdpruneError(`${where} takes ${input.type}; images give float (or uint8) values`);
  if ((dims.length !== 3 && dims.length !== 4) || batchAxis(input) !== 0) {
    throw new IdpruneError(
      `${where} does not take images ` +
        '([batch, channels, height, width], [batch, height, width, channels] or [batch, height, width])',
    );
  }
  const layout = dims.length === 3 ? 'nchw' : (options.layout ?? inferLayout(dims));
  const channelAxis = dims.length === 3 ? null : layout === 'nchw' ? 1 : 3;
  const [hAxis, wAxis] = dims.length === 3 || layout === 'nhwc' ? [1, 2] : [2, 3];
  const modelChannels = channelAxis === null ? 1 : dims[channelAxis];
  if (modelChannels !== null && modelChannels !== 1 && modelChannels !== 3) {
    const axis = options.layout ? ` on the ${layout} channel axis` : '';
    const hint = options.layout ? '' : ' (set --layout if the channels are on the other axis)';
    throw new IdpruneError(
      `${where} has ${modelChannels} channels${axis}; images give 1 (gray) or 3 (rgb, bgr)${hint}`,
    );
  }
  const colour = options.channels ?? (modelChannels === 1 ? 'gray' : 'rgb');
  if (modelChannels !== null && channelCount(colour) !== modelChannels) {
    throw new IdpruneError(
      `${where} has ${modelChannels} channel${modelChannels === 1 ? '' : 's'}, ` +
        `but --channels ${colour} gives ${channelCount(colour)}`,
    );
  }
  const [height, width] = imageSize(dims[hAxis], dims[wAxis], options.imageSize, where);
  const channels = channelCount(colour);
  const sample =
    channelAxis === null ? [height, width] : layout === 'nchw' ? [channels, height, width] : [height, width, channels];
  return { layout, colour, channels, height, width, resize: options.resize ?? 'crop', sample };
}

/** Channels of 1 or 3 on axis 1 mean nchw, on the last axis nhwc; anything else is taken as nchw. */
function inferLayout(dims: (number | null)[]): PixelLayout {
  const isChannels = (d: number | null) => d === 1 || d === 3;
  if (isChannels(dims[1])) return 'nchw';
  return isChannels(dims[3]) ? 'nhwc' : 'nchw';
}

function imageSize(
  fixedHeight: number | null,
  fixedWidth: number | null,
  given: number[] | undefined,
  where: string,
): [number, number] {
  const wanted = given ? [given[0], given[1] ?? given[0]] : [null, null];
  const height = fixedHeight ?? wanted[0];
  const width = fixedWidth ?? wanted[1];
  if (height === null || width === null) {
    throw new IdpruneError(`${where} has a free image size; give it with --image-size H[,W]`);
  }
  // A model may fix a size of 0, and a library caller give any number: the decoder would blame the image.
  if (![height, width].every((size) => Number.isInteger(size) && size >= 1)) {
    throw new IdpruneError(`${where} takes ${height}×${width} images; sizes must be positive integers`);
  }
  if (given && (height !== wanted[0] || width !== wanted[1])) {
    throw new IdpruneError(
      `${where} takes ${height}×${width} images, but --image-size gives ${wanted[0]}×${wanted[1]}`,
    );
  }
  return [height, width];
}
