/**
 * The price table the planner costs a deployment with: a dated JSON file per region that names its source
 * (`prices-<region>.json` here, or any file given with `--prices`), validated on load.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const price = z.number().nonnegative();

/** The schema of a price file; every price in `currency`, list prices without free tier. */
export const PriceTableSchema = z
  .object({
    region: z.string(),
    currency: z.string(),
    /** The date the prices were read (YYYY-MM-DD). */
    asOf: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
    /** Where they come from, and how sure they are. */
    source: z.string().min(1),
    lambda: z.object({
      perGbSecond: price,
      perMillionRequests: price,
      provisioned: z.object({ perGbSecondProvisioned: price, perGbSecondDuration: price }),
    }),
    apiGateway: z.object({ httpApiPerMillionRequests: price, meteredKb: z.number().positive() }),
    s3: z.object({ standardPerGbMonth: price, putPerThousand: price, getPerThousand: price }),
    sqs: z.object({ perMillionRequests: price }),
    cloudWatch: z.object({
      metricPerMonth: price,
      alarmPerMonth: price,
      dashboardPerMonth: price,
      logsIngestPerGb: price,
      logsStoragePerGbMonth: price,
    }),
    ec2: z.object({ onDemandPerHour: z.record(z.string(), price), gp3PerGbMonth: price }),
    natGateway: z.object({ perHour: price, perGbProcessed: price }),
    alb: z.object({ perHour: price, perLcuHour: price }),
  })
  .loose();

/** A validated price table. */
export type PriceTable = z.infer<typeof PriceTableSchema>;

/** The price file shipped for `region`. */
export function defaultPriceFile(region: string): string {
  return join(dirname(fileURLToPath(import.meta.url)), `prices-${region}.json`);
}

/**
 * Reads and validates a price file.
 *
 * @throws Error naming the file and each bad field, or the missing file (a region without a shipped table
 *   needs `--prices`).
 */
export function loadPrices(file: string): PriceTable {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new Error(
      `no price table at ${file}: give one with --prices <file> (see scripts/plan/prices-us-east-1.json)`,
    );
  }
  const parsed = PriceTableSchema.safeParse(JSON.parse(text));
  if (!parsed.success)
    throw new Error(
      `invalid price table ${file}:\n${parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`,
    );
  return parsed.data;
}
