/** The GPU tier: instances for a rate from a measured (or, until measured, assumed) throughput. */
import {
  ASSUMED_GPU_FAMILY_SPEED,
  ASSUMED_GPU_RPS,
  GPU_ROOT_VOLUME_GB,
  GPU_TARGET_UTILISATION,
  HOURS_PER_MONTH,
  NAT_GB_PER_INSTANCE_MONTH,
} from './assumptions.ts';
import type { PriceTable } from './prices.ts';

/** One instance's throughput, and whether anything measured it. */
export interface GpuThroughput {
  readonly requestsPerSecond: number;
  readonly measured: boolean;
}

/** The throughput of `instanceType` for `task`: measured where `measured` has it, else assumed. */
export function gpuThroughput(
  task: string,
  instanceType: string,
  measured?: Readonly<Record<string, number>>,
): GpuThroughput {
  const found = measured?.[instanceType];
  if (found) return { requestsPerSecond: found, measured: true };
  const base = ASSUMED_GPU_RPS[task];
  if (!base) throw new Error(`no GPU throughput known for ${task}`);
  const family = instanceType.split('.')[0] ?? '';
  return { requestsPerSecond: base * (ASSUMED_GPU_FAMILY_SPEED[family] ?? 1), measured: false };
}

/**
 * Instances for `rps` at `perInstanceRps`, each kept at the target utilisation; at least `minimum` (1 while
 * the service answers HTTP: request-count scaling cannot start from none).
 */
export function instancesNeeded(rps: number, perInstanceRps: number, minimum: number): number {
  if (rps <= 0) return minimum;
  return Math.max(minimum, Math.ceil(rps / (perInstanceRps * GPU_TARGET_UTILISATION)));
}

/** The month's bill of a task's GPU service, itemised. */
export interface GpuBill {
  readonly instances: number;
  /** Instance-hours in the month (the minimum all month, the rest in the traffic's hours). */
  readonly instanceHours: number;
  readonly ec2: number;
  readonly ebs: number;
  readonly loadBalancer: number;
  readonly nat: number;
  readonly total: number;
}

/** What sizes the GPU service. */
export interface GpuInputs {
  readonly rps: number;
  readonly hoursPerDay: number;
  readonly instanceType: string;
  readonly perInstanceRps: number;
  /** Instances kept when idle: 1 for a service that answers HTTP, 0 for an upload worker. */
  readonly minimum: number;
  readonly payloadKb: number;
  readonly natGateways: number;
}

/**
 * The GPU service's month: EC2 on demand, the 100 GB root volume of each instance, the load balancer (hours
 * and LCUs: the larger of processed GB per hour and rule evaluations per 1000 per second) and the NAT
 * gateways (hours and the instances' image pulls).
 */
export function gpuCost(inputs: GpuInputs, prices: PriceTable): GpuBill {
  const hourly = prices.ec2.onDemandPerHour[inputs.instanceType];
  if (hourly === undefined)
    throw new Error(
      `no price for ${inputs.instanceType} in the price table; it has ${Object.keys(prices.ec2.onDemandPerHour).join(', ')}`,
    );
  const instances = instancesNeeded(inputs.rps, inputs.perInstanceRps, inputs.minimum);
  const activeHours = HOURS_PER_MONTH * (inputs.hoursPerDay / 24);
  const instanceHours = inputs.minimum * HOURS_PER_MONTH + (instances - inputs.minimum) * activeHours;
  const ec2 = instanceHours * hourly;
  const averageInstances = instanceHours / HOURS_PER_MONTH;
  const ebs = averageInstances * GPU_ROOT_VOLUME_GB * prices.ec2.gp3PerGbMonth;
  const gbPerHour = (inputs.rps * inputs.payloadKb * 3600) / 1024 / 1024;
  const lcu = Math.max(gbPerHour, inputs.rps / 1000);
  const loadBalancer =
    inputs.minimum > 0 || inputs.rps > 0
      ? HOURS_PER_MONTH * prices.alb.perHour + lcu * activeHours * prices.alb.perLcuHour
      : 0;
  const nat =
    inputs.natGateways * HOURS_PER_MONTH * prices.natGateway.perHour +
    averageInstances * NAT_GB_PER_INSTANCE_MONTH * prices.natGateway.perGbProcessed;
  return { instances, instanceHours, ec2, ebs, loadBalancer, nat, total: ec2 + ebs + loadBalancer + nat };
}
