import type { ActionOutcome, KioskActions } from './displays/index.js';
import type { Lifecycle } from './lifecycle.js';
import type { Machine } from './state.js';

/**
 * The person at the kiosk's Sign out and Sign in (CONTRACT §9), over the lifecycle operations the MQTT
 * commands use (`signOut`, `restartSignIn`), each checked against the machine's state at the moment
 * it is asked for: the screen that offered it may be a moment behind.
 */
export function kioskActions(machine: Machine, lifecycle: Pick<Lifecycle, 'signOut' | 'restartSignIn'>): KioskActions {
  return {
    async signOut(from): Promise<ActionOutcome> {
      if (machine.snapshot.account === undefined) return 'not_signed_in';
      await lifecycle.signOut(from);
      return 'ok';
    },
    signIn(): ActionOutcome {
      const s = machine.snapshot;
      // "Not signed in": waiting for a request, no code asked for (the view's notSignedIn).
      if (s.state !== 'awaiting_sign_in' || s.userCode !== undefined || s.expiresAt !== undefined) return 'wrong_state';
      lifecycle.restartSignIn();
      return 'ok';
    },
  };
}
