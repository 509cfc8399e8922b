import { type FormEvent, useState } from "react";
import { createApi, messageOf, statusOf } from "../api.js";
import { Alert } from "../components.js";

/** The secret key form: the key is checked with one call before it is kept for the tab. */
export function SignIn({ onSignedIn }: { onSignedIn(key: string): void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const trimmed = key.trim();
    if (trimmed === "") return setError("Enter an environment's secret key (tr_dev_…, tr_prod_…).");
    setBusy(true);
    setError(undefined);
    try {
      await createApi({ kind: "secret", key: trimmed }).batch.list.query({ limit: 1 });
      onSignedIn(trimmed);
    } catch (err) {
      const status = statusOf(err);
      setError(status === 401 || status === 403 ? "That key was refused. Check it and try again." : messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="sign-in">
      <h1>Salvo</h1>
      <form onSubmit={submit}>
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={key}
          onChange={(e) => setKey(e.target.value)}
          placeholder="tr_dev_…"
        />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
      <p className="hint">
        An environment's secret key. It is kept in this tab only (sessionStorage) and sent as a header.
      </p>
      {error ? <Alert>{error}</Alert> : null}
    </main>
  );
}
