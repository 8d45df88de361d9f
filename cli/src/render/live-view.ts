import { terminalColumns } from "./terminal.js";

/**
 * The bottom-of-terminal table of `seismo run` / `seismo attach`. On a TTY the
 * app's output is written above it, and the table is erased and redrawn around
 * each complete line, so neither garbles the other. Elsewhere it prints plain
 * periodic lines and the app's output passes through untouched.
 */
export class LiveView {
  private drawnLines = 0;
  private status: string[] = [];
  private readonly partial = new Map<NodeJS.WritableStream, string>();

  constructor(
    private readonly out: NodeJS.WriteStream,
    readonly interactive: boolean,
  ) {}

  /** Lines of app output (or Seismo's own logs) to show above the table. */
  write(stream: NodeJS.WritableStream, chunk: string): void {
    if (!this.interactive) {
      stream.write(chunk);
      return;
    }
    const text = (this.partial.get(stream) ?? "") + chunk;
    const cut = text.lastIndexOf("\n");
    this.partial.set(stream, cut < 0 ? text : text.slice(cut + 1));
    if (cut < 0) return;
    this.erase();
    stream.write(text.slice(0, cut + 1));
    this.draw();
  }

  update(lines: string[]): void {
    if (!this.interactive) {
      for (const line of lines) this.out.write(`${line}\n`);
      return;
    }
    this.erase();
    this.status = lines;
    this.draw();
  }

  /** Leaves the last table on screen and flushes any partial app line. */
  close(): void {
    for (const [stream, text] of this.partial) if (text) stream.write(`${text}\n`);
    this.partial.clear();
  }

  get columns(): number {
    return terminalColumns(this.out, 120);
  }

  private erase(): void {
    if (this.drawnLines > 0) this.out.write(`\x1b[${this.drawnLines}A\x1b[0J`);
    this.drawnLines = 0;
  }

  private draw(): void {
    for (const line of this.status) this.out.write(`${line}\n`);
    this.drawnLines = this.status.length;
  }
}
