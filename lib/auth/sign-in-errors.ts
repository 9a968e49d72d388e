// What the sign-in page says for each next-auth error code (pure: the sign-in form imports it too).
const MESSAGES: Record<string, string> = {
  CredentialsSignin: "Wrong email or password.",
  AccountLink: "That account could not be linked. Sign in with your password first.",
  NoEmail: "Your identity provider did not share an email address.",
  SignupClosed:
    "Sign-up is closed on this server, and no account exists for that identity. Ask an administrator to invite you.",
  SessionEnded: "Your session has ended. Sign in again.",
};

export function signInErrorMessage(code: string): string {
  const wait = /^TooManyAttempts:(\d+)$/.exec(code);
  if (wait) return `Too many attempts, try again in ${wait[1]} s.`;
  return MESSAGES[code] ?? "Sign-in failed. Please try again.";
}
