// The slice of chrome-remote-interface's API that Seismo calls (the package ships no types).
declare module "chrome-remote-interface" {
  interface CdpOptions {
    target?: string;
    host?: string;
    port?: number;
    local?: boolean;
  }
  function CDP(options?: CdpOptions): Promise<unknown>;
  export default CDP;
}
