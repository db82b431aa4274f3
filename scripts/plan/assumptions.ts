/**
 * What the planner assumes where nothing here measures it. Each value is printed with the plan under
 * "assumed", so a reader sees which figures are measured and which are not; replace one by measuring it.
 */

/** Hours in an average month (AWS bills 730). */
export const HOURS_PER_MONTH = 730;

/** Share of requests a Lambda p95 can lose to cold starts and still be the warm p95. */
export const COLD_SHARE_FOR_P95 = 0.05;

/**
 * Lambda recycles execution environments even under steady load; AWS publishes no lifetime. Observed
 * lifetimes are hours; 2 hours is assumed.
 */
export const ENVIRONMENT_LIFETIME_MINUTES = 120;

/** An idle environment is reclaimed after some minutes (not published; 10 assumed). */
export const IDLE_RECLAIM_MINUTES = 10;

/** Quantile of the concurrency (Poisson arrivals) the environments are sized for. */
export const CONCURRENCY_QUANTILE = 0.99;

/**
 * CloudWatch Logs bytes written per request: Lambda's START/END/REPORT lines (~350 B), the request log
 * line (~250 B) and the EMF metrics record (~600 B).
 */
export const LOG_BYTES_PER_REQUEST = 1200;

/** Custom metrics one task's functions publish through EMF (12 metrics under 2 dimension sets). */
export const CUSTOM_METRICS_PER_TASK = 24;

/** Alarms the stack creates per task (errors, throttles, latency band, upload age) and for the API. */
export const ALARMS_PER_TASK = 5;

/** Bytes of one result record written under `results/` for an upload. */
export const RESULT_RECORD_BYTES = 2048;

/** The GPU service's root volume (gpu-service.ts: 100 GB gp3). */
export const GPU_ROOT_VOLUME_GB = 100;

/** Target utilisation of a GPU instance: the scaling keeps headroom for bursts. */
export const GPU_TARGET_UTILISATION = 0.7;

/** Data through the NAT gateway per GPU instance per month: the container image pulls and AWS API calls. */
export const NAT_GB_PER_INSTANCE_MONTH = 10;

/**
 * Requests per second one GPU instance serves, by task, until `bench/results/gpu.json` measures it. Derived,
 * not measured: the H100 figures in docs (PP-OCRv4 detection ~10 ms and a batched line ~3 ms on WebGPU, so
 * a five-line document ~30 ms of GPU time) scaled down ~4x for a T4 (g4dn); the text classifier and VAD are
 * small models whose throughput is bound by the instance's 4 vCPUs, as on the CPU here.
 */
export const ASSUMED_GPU_RPS: Readonly<Record<string, number>> = {
  'image/ocr': 8,
  'text/classify': 400,
  'speech/vad': 20,
  'text/embed': 100,
};

/** Relative speed of each GPU family against the g4dn (T4), for the assumed throughput. */
export const ASSUMED_GPU_FAMILY_SPEED: Readonly<Record<string, number>> = { g4dn: 1, g6: 1.6, g5: 2 };
