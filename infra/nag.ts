/**
 * Acknowledging cdk-nag findings at the narrowest scope, with the finding ids cdk-nag gives wildcard
 * resources (`AwsSolutions-IAM5[Resource::<LogicalId.Arn>/prefix/*]`).
 */
import { type CfnElement, Stack, Token, Validations } from 'aws-cdk-lib';
import type { IRole } from 'aws-cdk-lib/aws-iam';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';

/** Acknowledges the findings `ids` on `scope` and everything under it, for `reason`. */
export function acknowledge(scope: IConstruct, ids: readonly string[], reason: string): void {
  for (const id of ids) Validations.of(scope).acknowledge({ id, reason });
}

/** The IAM5 finding id of a grant on `<bucket ARN>/<suffix>`, e.g. `incoming/image/*`. */
export function bucketObjectsFinding(bucket: IBucket, suffix: string): string {
  const logicalId = Stack.of(bucket).resolve((bucket.node.defaultChild as CfnElement).logicalId) as string;
  return `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/${suffix}]`;
}

/**
 * The scope that holds a role's inline grants: its `DefaultPolicy` once a grant has created it, else the
 * role. Call after the grants.
 */
export function grantsOf(role: IRole): IConstruct {
  return role.node.tryFindChild('DefaultPolicy') ?? role;
}

/**
 * The stack's partition and region as cdk-nag writes them in finding ids: the literal once the stack has a
 * region, else the pseudo parameter (`<AWS::Partition>`, `<AWS::Region>`).
 */
export function findingPseudo(scope: IConstruct): { readonly partition: string; readonly region: string } {
  const stack = Stack.of(scope);
  return {
    partition: Token.isUnresolved(stack.partition) ? '<AWS::Partition>' : stack.partition,
    region: Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region,
  };
}
