export { MqttPublisher } from './publisher.js';
export type { MqttStatus, PublisherDeps, PublisherTuning } from './publisher.js';
export type { CommandLimits, Operations } from './commands.js';
export { runWatch, watchFleet, watchSettings } from './watch.js';
export type { WatchFlags, WatchOptions } from './watch.js';
