/**
 * The parts of MSAL Node the agent uses, for `msal.ts`'s dynamic import: importing the package itself
 * bundles every export (the confidential and managed-identity clients among them).
 */
export { AuthError, InteractionRequiredAuthError, LogLevel, PublicClientApplication } from '@azure/msal-node';
