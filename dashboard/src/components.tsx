import type { ReactNode } from "react";
import { followLink, withFragment } from "./router.js";

export function Link({ to, children, label }: { to: string; children: ReactNode; label?: string }) {
  return (
    <a href={withFragment(to)} onClick={followLink} aria-label={label}>
      {children}
    </a>
  );
}

/** A progress bar people and assistive technology read alike: `aria-valuenow` of `aria-valuemax`. */
export function ProgressBar({ finished, total, label }: { finished: number; total: number; label: string }) {
  const percent = total > 0 ? Math.min(100, Math.floor((finished / total) * 100)) : 0;
  return (
    <div className="progress-line">
      <div
        className="progress"
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={total}
        aria-valuenow={finished}
        aria-valuetext={`${finished} of ${total} runs finished (${percent} %)`}
      >
        {/* Set through the DOM's style object by React, which a CSP without 'unsafe-inline' allows. */}
        <div className="progress-fill" style={{ width: `${percent}%` }} />
      </div>
      <span className="progress-text">
        {finished.toLocaleString()} / {total.toLocaleString()} ({percent} %)
      </span>
    </div>
  );
}

export function Status({ value }: { value: string }) {
  return <span className={`status status-${value.toLowerCase()}`}>{value}</span>;
}

export function Alert({ children }: { children: ReactNode }) {
  return (
    <p role="alert" className="alert">
      {children}
    </p>
  );
}

/** The pages before and after in a cursor-paginated list (the caller keeps a stack of the cursors that led here). */
export function Pager({
  hasNewer,
  hasOlder,
  onNewer,
  onOlder,
  label,
  previous = "← Newer",
  next = "Older →",
}: {
  previous?: string;
  next?: string;
  hasNewer: boolean;
  hasOlder: boolean;
  onNewer(): void;
  onOlder(): void;
  label: string;
}) {
  return (
    <nav className="pager" aria-label={label}>
      <button type="button" onClick={onNewer} disabled={!hasNewer}>
        {previous}
      </button>
      <button type="button" onClick={onOlder} disabled={!hasOlder}>
        {next}
      </button>
    </nav>
  );
}
