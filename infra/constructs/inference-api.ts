import { RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  HttpApi,
  HttpMethod,
  type HttpStage,
  type IHttpRouteAuthorizer,
  LogGroupLogDestination,
  MappingValue,
  ParameterMapping,
  type VpcLink,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpAlbIntegration, HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IApplicationListener } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { ApiAuth } from '../config/index.ts';

/** Props of {@link InferenceApi}. */
export interface InferenceApiProps {
  /** How callers authenticate: IAM (SigV4) or JWT; every route requires it. */
  readonly auth: ApiAuth;
  /** Stage-wide throttling: steady requests per second and burst. */
  readonly throttle: { readonly rateLimit: number; readonly burstLimit: number };
  /** Retention of the access log. */
  readonly logRetention: RetentionDays;
}

/** A task function as the API routes to it. */
export interface LambdaTaskRoutes {
  /** The task route, e.g. `/v1/image/ocr`. */
  readonly route: string;
  /** The models the function serves through OIP (the task's model and its components). */
  readonly models: readonly string[];
  /** The function (or alias) to invoke. */
  readonly handler: IFunction;
}

/**
 * The HTTPS front door: one API Gateway HTTP API (payload format 2.0, which the handlers take), every route
 * authenticated (IAM by default, JWT by configuration; never anonymous), throttled at the stage, and
 * access-logged.
 *
 * Layout: the paths the functions already serve, so nothing is rewritten on the way to Lambda:
 *
 * | path | goes to |
 * |---|---|
 * | `POST /v1/<modality>/<task>` | the task's HTTP function |
 * | `GET /v2/models/<model>`, `ANY /v2/models/<model>/{proxy+}` | the function serving that model (OIP metadata, ready, infer) |
 * | `ANY /gpu/<task>/{proxy+}` | that task's GPU service, its whole server (`/gpu/image/v1/image/ocr`, `/gpu/image/v2/health/ready`, ...), with `/gpu/<task>` cut off |
 *
 * A model name belongs to one task, so model routes never collide. The server-wide OIP routes (`/v2`,
 * `/v2/health/*`, `/v2/repository/index`) describe one server; the Lambda tier is several, so they are
 * served under `/gpu/<task>/` only, and a Lambda model's readiness is `GET /v2/models/<model>/ready`.
 */
export class InferenceApi extends Construct {
  /** The API. */
  readonly api: HttpApi;
  /** The `$default` stage (auto-deployed). */
  readonly stage: HttpStage;
  /** The access log. */
  readonly accessLogs: LogGroup;

  constructor(scope: Construct, id: string, props: InferenceApiProps) {
    super(scope, id);
    this.api = new HttpApi(this, 'HttpApi', {
      description: 'Inferlet inference API',
      createDefaultStage: false,
      defaultAuthorizer: authorizer(props.auth),
    });
    this.accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = this.api.addStage('Stage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            caller: '$context.identity.caller',
            user: '$context.identity.user',
            jwtSubject: '$context.authorizer.claims.sub',
            requestTime: '$context.requestTime',
            routeKey: '$context.routeKey',
            status: '$context.status',
            responseLength: '$context.responseLength',
            latency: '$context.responseLatency',
            integrationLatency: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });
  }

  /** The API's base URL, e.g. `https://abc123.execute-api.eu-west-1.amazonaws.com/`. */
  get url(): string {
    return this.stage.url;
  }

  /** Routes a task's endpoint and its models' OIP endpoints to its HTTP function. */
  addLambdaTask(id: string, task: LambdaTaskRoutes): void {
    const integration = new HttpLambdaIntegration(`${id}Integration`, task.handler);
    this.api.addRoutes({ path: task.route, methods: [HttpMethod.POST], integration });
    for (const model of task.models) {
      this.api.addRoutes({ path: `/v2/models/${model}`, methods: [HttpMethod.GET], integration });
      this.api.addRoutes({ path: `/v2/models/${model}/{proxy+}`, methods: [HttpMethod.ANY], integration });
    }
  }

  /**
   * Routes `/gpu/<task>/{proxy+}` to that task's GPU service load balancer through `vpcLink`, with the
   * `/gpu/<task>` prefix cut off (`/gpu/image/v1/image/ocr` reaches the server as `/v1/image/ocr`).
   *
   * @param id - construct id of the integration, e.g. `GpuImage`.
   * @param task - the path segment after `/gpu/`: the task key, e.g. `image`.
   * @param secureServerName - the name on the listener's certificate, when the listener is HTTPS.
   */
  addGpuService(
    id: string,
    task: string,
    listener: IApplicationListener,
    vpcLink: VpcLink,
    secureServerName?: string,
  ): void {
    const integration = new HttpAlbIntegration(`${id}Integration`, listener, {
      vpcLink,
      ...(secureServerName && { secureServerName }),
      parameterMapping: new ParameterMapping().overwritePath(MappingValue.custom('/$request.path.proxy')),
    });
    this.api.addRoutes({ path: `/gpu/${task}/{proxy+}`, methods: [HttpMethod.ANY], integration });
  }
}

function authorizer(auth: ApiAuth): IHttpRouteAuthorizer {
  if (auth.type === 'jwt')
    return new HttpJwtAuthorizer('JwtAuthorizer', auth.issuer, { jwtAudience: [...auth.audience] });
  return new HttpIamAuthorizer();
}
