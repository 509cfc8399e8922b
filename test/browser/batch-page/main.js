// A page as a Trigger.dev user would write it: useRealtimeBatch with the batch's public token.
// The test serves it from another origin than the API, so every request is cross-origin.
import { useRealtimeBatch } from "@trigger.dev/react-hooks";
import { createElement as h } from "react";
import { createRoot } from "react-dom/client";

const params = new URLSearchParams(location.search);

function Batch() {
  const { runs, error } = useRealtimeBatch(params.get("batch"), {
    accessToken: params.get("token"),
    baseURL: params.get("api"),
  });
  return h(
    "main",
    null,
    error ? h("p", { id: "error" }, String(error.message)) : null,
    h(
      "ul",
      { id: "runs" },
      runs.map((run) =>
        h("li", { key: run.id, "data-run": run.id, "data-status": run.status }, `${run.id} ${run.status}`),
      ),
    ),
  );
}

createRoot(document.getElementById("root")).render(h(Batch));
