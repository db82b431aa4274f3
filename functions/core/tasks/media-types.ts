/**
 * The media types each modality takes as a raw body: plain constants, so that the task descriptors (which
 * the CDK app imports) and the decoders share one list without loading a decoder.
 */

/** Images the OCR task decodes. */
export const IMAGE_MEDIA_TYPES = ['image/png', 'image/jpeg', 'image/webp'] as const;

/** Texts: one per body, or one per line (NDJSON). */
export const TEXT_MEDIA_TYPES = ['text/plain', 'application/x-ndjson'] as const;

/** Audio files the speech decoder opens. */
export const AUDIO_MEDIA_TYPES = [
  'audio/wav',
  'audio/x-wav',
  'audio/wave',
  'audio/vnd.wave',
  'audio/flac',
  'audio/x-flac',
  'audio/mpeg',
  'audio/mp3',
  'audio/ogg',
  'audio/opus',
] as const;
