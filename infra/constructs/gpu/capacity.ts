/**
 * The GPU service's instances: their role, security group, launch template (ECS GPU-optimised Amazon Linux
 * 2023 AMI), Auto Scaling group and the ECS capacity provider over it.
 */
import { AutoScalingGroup } from 'aws-cdk-lib/aws-autoscaling';
import {
  BlockDeviceVolume,
  EbsDeviceVolumeType,
  InstanceType,
  LaunchTemplate,
  SecurityGroup,
  SubnetType,
  UserData,
  type Vpc,
} from 'aws-cdk-lib/aws-ec2';
import {
  AmiHardwareType,
  AsgCapacityProvider,
  type Cluster,
  EcsOptimizedImage,
  MachineImageType,
} from 'aws-cdk-lib/aws-ecs';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import type { GpuServiceSizing } from '../../config/index.ts';
import { acknowledge } from '../../nag.ts';

/** Namespace of the GPU metrics the instances' CloudWatch agent publishes. */
export const GPU_METRICS_NAMESPACE = 'CWAgent';

/** What {@link addGpuCapacity} made. */
export interface GpuCapacity {
  readonly autoScalingGroup: AutoScalingGroup;
  readonly capacityProvider: AsgCapacityProvider;
}

/**
 * Adds the instances of a GPU service to `scope` (the service's construct: the resources keep the logical
 * IDs they had when the service made them itself) and joins them to `cluster`. The instance role holds only
 * what the ECS and CloudWatch agents call; containers cannot reach it (`ECS_AWSVPC_BLOCK_IMDS`).
 */
export function addGpuCapacity(
  scope: Construct,
  props: { readonly vpc: Vpc; readonly cluster: Cluster; readonly sizing: GpuServiceSizing },
): GpuCapacity {
  const { vpc, cluster, sizing } = props;
  const instanceRole = new Role(scope, 'InstanceRole', {
    assumedBy: new ServicePrincipal('ec2.amazonaws.com'),
    description: 'GPU container instances: ECS agent and CloudWatch agent',
  });
  // What the ECS agent calls for its instance. The cluster would also add ecr:GetAuthorizationToken and
  // logs:CreateLogStream/PutLogEvents on "*" (for tasks without an execution role); ours has one, so the
  // launch template gets the role without policy updates and the agent's statements are written here.
  instanceRole.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ecs:DeregisterContainerInstance', 'ecs:RegisterContainerInstance', 'ecs:Submit*'],
      resources: [cluster.clusterArn],
    }),
  );
  instanceRole.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ecs:Poll', 'ecs:StartTelemetrySession'],
      resources: ['*'],
      conditions: { ArnEquals: { 'ecs:cluster': cluster.clusterArn } },
    }),
  );
  // The instance's CloudWatch agent: GPU metrics into its namespace only; DescribeTags resolves the
  // Auto Scaling group name it aggregates by.
  instanceRole.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['cloudwatch:PutMetricData'],
      resources: ['*'],
      conditions: { StringEquals: { 'cloudwatch:namespace': GPU_METRICS_NAMESPACE } },
    }),
  );
  instanceRole.addToPrincipalPolicy(
    new PolicyStatement({ actions: ['ec2:DescribeTags', 'ecs:DiscoverPollEndpoint'], resources: ['*'] }),
  );

  const instanceSecurityGroup = new SecurityGroup(scope, 'InstanceSecurityGroup', {
    vpc,
    description: 'GPU container instances (tasks use their own ENIs)',
  });
  const userData = UserData.forLinux();
  userData.addCommands(...gpuInstanceSetup());
  const launchTemplate = new LaunchTemplate(scope, 'LaunchTemplate', {
    machineImage: EcsOptimizedImage.amazonLinux2023(AmiHardwareType.GPU),
    instanceType: new InstanceType(sizing.instanceType),
    role: instanceRole.withoutPolicyUpdates(),
    securityGroup: instanceSecurityGroup,
    userData,
    requireImdsv2: true,
    detailedMonitoring: true,
    blockDevices: [
      {
        deviceName: '/dev/xvda',
        volume: BlockDeviceVolume.ebs(100, { encrypted: true, volumeType: EbsDeviceVolumeType.GP3 }),
      },
    ],
  });
  const autoScalingGroup = new AutoScalingGroup(scope, 'Instances', {
    vpc,
    vpcSubnets: { subnetType: SubnetType.PRIVATE_WITH_EGRESS },
    launchTemplate,
    minCapacity: 0,
    // One task per GPU instance; one spare lets a rolling deployment start the new task first.
    maxCapacity: sizing.maxTasks + 1,
  });
  const capacityProvider = new AsgCapacityProvider(scope, 'Capacity', {
    autoScalingGroup,
    // Amazon Linux 2023 joins the cluster the same way (ECS_CLUSTER in /etc/ecs/ecs.config).
    machineImageType: MachineImageType.AMAZON_LINUX_2,
    enableManagedTerminationProtection: true,
  });
  cluster.addAsgCapacityProvider(capacityProvider);

  acknowledge(
    instanceRole,
    ['AwsSolutions-IAM5[Resource::*]'],
    'ecs:DiscoverPollEndpoint, ec2:DescribeTags and cloudwatch:PutMetricData have no resource-level ' +
      'permissions (PutMetricData is limited to the agent namespace by the cloudwatch:namespace condition); ' +
      'ecs:Poll and ecs:StartTelemetrySession are limited to this cluster by the ecs:cluster condition.',
  );
  acknowledge(
    instanceRole,
    ['AwsSolutions-IAM5[Action::ecs:Submit*]'],
    'The ECS agent reports container, task and attachment state changes (ecs:Submit*), on this cluster only.',
  );
  acknowledge(
    autoScalingGroup,
    ['AwsSolutions-AS3'],
    'Instances of this group are ECS capacity, launched and drained by the capacity provider; ECS service ' +
      'events and the dashboard cover them, scaling notifications would be noise.',
  );
  return { autoScalingGroup, capacityProvider };
}

/**
 * User data of a GPU instance: GPU support for the ECS agent, IMDS blocked for the tasks, and the
 * CloudWatch agent publishing the `nvidia_gpu` metrics (from the host's nvidia-smi) aggregated by Auto
 * Scaling group.
 */
function gpuInstanceSetup(): string[] {
  const agentConfig = {
    agent: { metrics_collection_interval: 60 },
    metrics: {
      namespace: GPU_METRICS_NAMESPACE,
      // The agent's own placeholders, resolved on the instance.
      append_dimensions: {
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudWatch agent placeholder, not a template
        AutoScalingGroupName: '${aws:AutoScalingGroupName}',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudWatch agent placeholder, not a template
        InstanceId: '${aws:InstanceId}',
      },
      aggregation_dimensions: [['AutoScalingGroupName']],
      metrics_collected: {
        nvidia_gpu: {
          measurement: [
            'utilization_gpu',
            'utilization_memory',
            'memory_used',
            'memory_total',
            'temperature_gpu',
            'power_draw',
          ],
        },
      },
    },
  };
  const configFile = '/opt/aws/amazon-cloudwatch-agent/etc/inferlet-gpu.json';
  return [
    'echo ECS_ENABLE_GPU_SUPPORT=true >> /etc/ecs/ecs.config',
    // Tasks use awsvpc networking: the agent then keeps their network namespaces away from the instance
    // metadata service, so a container cannot take the instance role's credentials.
    'echo ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config',
    'dnf install -y amazon-cloudwatch-agent',
    `cat > ${configFile} <<'EOF'\n${JSON.stringify(agentConfig)}\nEOF`,
    `/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:${configFile}`,
  ];
}
