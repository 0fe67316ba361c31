/**
 * MQTT.js, for the publisher's dynamic import. A dynamic import of the CommonJS package itself
 * yields its named exports under Node but only `default` from a bundle; a static re-export reads
 * the same under both.
 */
export { connect, Store } from 'mqtt';
