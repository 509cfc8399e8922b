/** A markdown table: a header row, a separator, then the rows, every cell already text. */
export function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

export const fmtMs = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
export const fmtRate = (perSecond: number) => Math.round(perSecond).toLocaleString("en-US");
export const fmtRatio = (x: number) => `${x.toFixed(2)}×`;
export const fmtMb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;
