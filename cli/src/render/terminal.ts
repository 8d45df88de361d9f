/** A stream's width in columns. A pseudo-terminal without a window size reports 0: then $COLUMNS, then the fallback. */
export function terminalColumns(stream: { columns?: number }, fallback: number): number {
  return stream.columns || Number(process.env.COLUMNS) || fallback;
}
