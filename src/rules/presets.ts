/**
 * The presets, as older code and tests name them: each format's rules, error format, optional roles
 * and reason-phrase need now live in its module under src/formats/ (the registry: src/formats/index.ts).
 */
import { FORMATS, type Format, type FormatName } from '../formats/index.ts';

export type PresetName = FormatName;

/** A routing preset: a format module (src/formats/format.ts), read for its rules, errorFormat, optionalRoles and showsReasonPhrase. */
export type Preset = Format;

export const presets: Readonly<Record<PresetName, Preset>> = FORMATS;
