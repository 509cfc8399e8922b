import { QueryCache, QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { createRoot } from "react-dom/client";
import { type Credential, createApi, statusOf } from "./api.js";
import { Link } from "./components.js";
import { BatchPage } from "./pages/Batch.js";
import { BatchesPage } from "./pages/Batches.js";
import { QueuesPage } from "./pages/Queues.js";
import { RunPage } from "./pages/Run.js";
import { SignIn } from "./pages/SignIn.js";
import { navigate, parseRoute, paths, setLinkFragment, useLocation } from "./router.js";
import { forgetKey, initialCredential, rememberKey } from "./session.js";
import "./styles.css";

function App() {
  const [credential, setCredential] = useState<Credential | undefined>(initialCredential);
  // A new client and an empty cache per credential: nothing read with one key shows under another.
  // A signed-in key the server stops accepting (revoked) leads back to the sign-in form.
  const { api, queryClient } = useMemo(() => {
    const queryCache = new QueryCache({
      onError: (error) => {
        if (credential?.kind === "secret" && statusOf(error) === 401) {
          forgetKey();
          setCredential(undefined);
        }
      },
    });
    return { api: credential ? createApi(credential) : undefined, queryClient: new QueryClient({ queryCache }) };
  }, [credential]);
  setLinkFragment(credential?.kind === "token" ? `#token=${credential.token}` : "");
  const where = useLocation();
  const route = parseRoute(where.split("#")[0]!);

  if (!credential || !api) {
    return (
      <SignIn
        onSignedIn={(key) => {
          rememberKey(key);
          setCredential({ kind: "secret", key });
        }}
      />
    );
  }
  const secret = credential.kind === "secret";
  const signOut = () => {
    forgetKey();
    setCredential(undefined);
    navigate(paths.batches());
  };

  let page: React.ReactNode;
  if (!secret && !(route.page === "batch" || route.page === "run")) {
    page = (
      <main>
        <p>
          This link shows one batch and its runs
          {credential.batchId ? (
            <>
              : <Link to={paths.batch(credential.batchId)}>open batch {credential.batchId}</Link>
            </>
          ) : null}
          .
        </p>
      </main>
    );
  } else if (route.page === "batches") page = <BatchesPage api={api} />;
  else if (route.page === "batch")
    page = <BatchPage key={route.batchId} api={api} batchId={route.batchId} canWrite={secret} />;
  else if (route.page === "run") page = <RunPage key={route.runId} api={api} runId={route.runId} canWrite={secret} />;
  else if (route.page === "queues") page = <QueuesPage api={api} />;
  else
    page = (
      <main>
        <h1>Not found</h1>
        <p>There is no such page.</p>
      </main>
    );

  return (
    <QueryClientProvider client={queryClient}>
      <header className="top">
        <span className="brand">Salvo</span>
        {secret ? (
          <nav aria-label="Main">
            <Link to={paths.batches()}>Batches</Link>
            <Link to={paths.queues()}>Queues</Link>
          </nav>
        ) : (
          <span className="hint">Read-only link</span>
        )}
        {secret ? (
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        ) : null}
      </header>
      {page}
    </QueryClientProvider>
  );
}

createRoot(document.getElementById("root")!).render(<App />);
