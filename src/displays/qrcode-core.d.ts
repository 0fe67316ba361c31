/** The encoder module of `qrcode`, which @types/qrcode declares only as part of the package's entry. */
declare module 'qrcode/lib/core/qrcode.js' {
  export { create } from 'qrcode';
}
