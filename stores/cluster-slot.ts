/**
 * The Redis Cluster hash slot of a key (CRC16-XMODEM of its hash tag, or of the whole key,
 * modulo 16384), as the Cluster specification defines it: the Redis store groups one turn's
 * requests by slot, one EVALSHA per slot.
 */

const TABLE = new Uint16Array(256)
for (let i = 0; i < 256; i++) {
  let crc = i << 8
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1
  TABLE[i] = crc & 0xffff
}

/** The part of `key` Redis hashes: the text between the first `{` and the next `}`, when not empty. */
function hashed (key: string): string {
  const open = key.indexOf('{')
  if (open === -1) return key
  const close = key.indexOf('}', open + 1)
  if (close === -1 || close === open + 1) return key
  return key.slice(open + 1, close)
}

/** The hash slot (0 to 16383) of `key`, hashed as its UTF-8 bytes. */
export function clusterSlot (key: string): number {
  const text = hashed(key)
  let crc = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    // keys are ASCII in practice (the plugin escapes identities); anything else is hashed as UTF-8
    if (c > 0x7f) return bytesSlot(Buffer.from(text, 'utf8'))
    crc = ((crc << 8) & 0xff00) ^ TABLE[((crc >> 8) ^ c) & 0xff]
  }
  return crc & 0x3fff
}

function bytesSlot (bytes: Uint8Array): number {
  let crc = 0
  for (const b of bytes) crc = ((crc << 8) & 0xff00) ^ TABLE[((crc >> 8) ^ b) & 0xff]
  return crc & 0x3fff
}
