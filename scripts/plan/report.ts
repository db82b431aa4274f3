/** A plan as the terminal shows it: the question, each memory size, both tiers' bills, sources, assumptions. */
import * as assumed from './assumptions.ts';
import type { Plan } from './plan.ts';
import type { PriceTable } from './prices.ts';

/** A new account's Lambda concurrency quota per region. */
const LAMBDA_DEFAULT_CONCURRENCY = 1000;

const usd = (v: number) => `$${v.toFixed(v < 100 ? 2 : 0)}`;
const pct = (v: number) => (v === 0 ? '0 %' : `${(v * 100).toFixed(v < 0.001 ? 3 : 1)} %`);

/** Pads each column of `rows` to its widest cell. */
function table(rows: readonly (readonly string[])[]): string {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The plan's text for the terminal. */
export function formatPlan(
  plan: Plan,
  prices: PriceTable,
  sources: readonly string[],
  breakEven: number | undefined,
): string {
  const { inputs, lambda, gpu } = plan;
  const lines: string[] = [];
  lines.push(
    `Plan for ${inputs.task}: ${inputs.rps} requests/s for ${inputs.hoursPerDay} h a day ` +
      `(${(plan.monthlyRequests / 1e6).toFixed(1)} M requests a month), p95 <= ${inputs.p95Ms} ms, ` +
      `${inputs.payloadKb} KB payloads, ${pct(inputs.uploadShare)} as uploads, ${prices.region}`,
    '',
    'Lambda, by memory size (latencies measured through the bundled function at that CPU share):',
    table([
      [
        'memory',
        'vCPU',
        'warm p50',
        'warm p95',
        'cold start',
        'concurrency',
        'envs',
        'cold share',
        'p95',
        'on demand',
        'provisioned',
        'how',
      ],
      ...lambda.candidates.map((c) => [
        `${c.option.memoryMb} MB`,
        String(c.option.vcpu),
        `${c.option.warmP50Ms} ms`,
        `${c.option.warmP95Ms} ms`,
        `${c.option.coldStartMs.toFixed(0)} ms`,
        c.meanConcurrency.toFixed(2),
        String(c.environments),
        pct(c.coldShare),
        `${c.p95OnDemandMs.toFixed(0)} ms`,
        usd(c.onDemand.total),
        usd(c.provisioned.total),
        c === lambda.chosen ? `${c.mode}  <- cheapest meeting the p95` : c.mode,
      ]),
    ]),
    '',
  );
  const chosen = lambda.chosen;
  lines.push(
    chosen
      ? `Lambda: ${chosen.option.memoryMb} MB, ${chosen.mode}` +
          (chosen.mode === 'provisioned'
            ? ` with ${chosen.environments} provisioned environments (${chosen.provisionedPays ? 'cheaper than on demand' : 'needed: cold starts break the p95 on demand'})`
            : ` (provisioned concurrency would cost ${usd(chosen.provisioned.total)} against ${usd(chosen.onDemand.total)}: it does not pay)`) +
          `; Little's law: ${chosen.meanConcurrency.toFixed(2)} requests in flight on average, ${chosen.environments} environments for the 99th percentile`
      : `Lambda: no measured memory size meets a p95 of ${inputs.p95Ms} ms (fastest warm p95: ${Math.min(...lambda.candidates.map((c) => c.option.warmP95Ms))} ms)`,
    `GPU: ${gpu.bill.instances} x ${gpu.instanceType} at ${gpu.throughput.requestsPerSecond} requests/s each ` +
      `(${gpu.throughput.measured ? 'measured' : 'ASSUMED, not measured: see scripts/plan/assumptions.ts'}), ` +
      `kept at ${assumed.GPU_TARGET_UTILISATION * 100} % utilisation; ` +
      (inputs.uploadShare >= 1
        ? 'an upload worker, it scales to zero'
        : 'it answers HTTP, so one instance runs all month (no scale to zero)'),
    '',
    'Monthly cost (USD):',
  );
  if (chosen && chosen.environments > LAMBDA_DEFAULT_CONCURRENCY)
    lines.push(
      `Note: ${chosen.environments} environments exceed the default account concurrency of ${LAMBDA_DEFAULT_CONCURRENCY}; ask for a quota increase first.`,
    );
  const lb = chosen?.bill ?? lambda.candidates[0]?.onDemand;
  lines.push(
    table([
      ['', 'Lambda', 'GPU'],
      ['Lambda requests', usd(lb?.requests ?? 0), '-'],
      ['Lambda duration (GB-s)', usd(lb?.duration ?? 0), '-'],
      ['Lambda provisioned', usd(lb?.provisioned ?? 0), '-'],
      [
        'EC2 GPU instances',
        '-',
        `${usd(gpu.bill.ec2)} (${gpu.bill.instanceHours.toFixed(0)} instance-hours)`,
      ],
      ['EBS root volumes', '-', usd(gpu.bill.ebs)],
      ['load balancer', '-', usd(gpu.bill.loadBalancer)],
      ['NAT gateway', '-', usd(gpu.bill.nat)],
      ['API Gateway', usd(lambda.shared.apiGateway), usd(gpu.shared.apiGateway)],
      ['S3 requests and storage', usd(lambda.shared.s3), usd(gpu.shared.s3)],
      ['SQS', usd(lambda.shared.sqs), usd(gpu.shared.sqs)],
      ['CloudWatch logs, metrics, alarms', usd(lambda.shared.cloudWatch), usd(gpu.shared.cloudWatch)],
      ['total', usd(lambda.monthly) + (chosen ? '' : ' (misses the p95)'), usd(gpu.monthly)],
    ]),
    '',
    `Cheaper here: ${plan.cheaper === 'lambda' ? 'Lambda' : 'the GPU service'}. ` +
      (breakEven === undefined
        ? 'Break-even: none up to 5000 requests/s; Lambda stays cheaper (same hours, payload and p95).'
        : breakEven <= 0.01
          ? 'Break-even: none; the GPU service is cheaper, or the only tier meeting the p95, at every rate from 0.01 requests/s.'
          : `Break-even: the GPU service costs no more than Lambda from ${breakEven.toFixed(1)} requests/s (same hours, payload and p95).`),
    '',
    'Sources:',
    ...sources.map((s) => `  ${s}`),
    `  prices: ${prices.region}, as of ${prices.asOf}: ${prices.source}`,
    'Assumed (scripts/plan/assumptions.ts):',
    `  environment lifetime ${assumed.ENVIRONMENT_LIFETIME_MINUTES} min, idle reclaim ${assumed.IDLE_RECLAIM_MINUTES} min; environments for the ${assumed.CONCURRENCY_QUANTILE * 100}th percentile of Poisson concurrency; warm p50 as the mean service time`,
    `  ${assumed.LOG_BYTES_PER_REQUEST} B of logs per request, ${assumed.CUSTOM_METRICS_PER_TASK} custom metrics and ${assumed.ALARMS_PER_TASK} alarms per task, ${assumed.NAT_GB_PER_INSTANCE_MONTH} GB through NAT per GPU instance`,
  );
  return lines.join('\n');
}
