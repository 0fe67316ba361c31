/** A JSON object (not null, not an array): the only shape whose fields can be read. */
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
