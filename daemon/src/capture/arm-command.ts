import type { CommandHandler } from "@seismo/agent-proto";
import { ErrorCodes, SeismoError } from "@seismo/agent-proto";
import type { Sensor } from "../sensor.js";

/**
 * A daemon's answer to commands: an arm goes to the sensor attached to the
 * command's target. Whatever goes wrong comes back as a reply with a code
 * (the target is gone, the file cannot be read, the function is not there).
 */
export function armCommandHandler(sensorFor: (targetId: string) => Sensor | undefined): CommandHandler {
  return async (command) => {
    const arm = command.body;
    const sensor = sensorFor(arm.targetId);
    if (!sensor) throw new SeismoError(ErrorCodes.TARGET_NOT_FOUND, `This daemon is not attached to ${arm.targetId} (any more).`);
    const probe = await sensor.captures.arm({
      trigger: arm.trigger,
      file: arm.file,
      ...(arm.functionName !== undefined ? { functionName: arm.functionName } : {}),
      ...(arm.functionLine !== undefined ? { functionLine: arm.functionLine } : {}),
      ...(arm.line !== undefined ? { line: arm.line } : {}),
      ...(arm.hits !== undefined ? { hits: arm.hits } : {}),
      ...(arm.ttlMs !== undefined ? { ttlMs: arm.ttlMs } : {}),
      ...(arm.minIntervalMs !== undefined ? { minIntervalMs: arm.minIntervalMs } : {}),
    });
    return { id: command.id, ok: true, result: { probeId: probe.probeId, file: probe.file, line: probe.site.line, functionName: probe.site.functionName } };
  };
}
