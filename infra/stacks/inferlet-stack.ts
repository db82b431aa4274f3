import { CfnOutput, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import type { CfnBucket } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { InferenceFunction } from '../constructs/inference-function.ts';
import { ModelBucket } from '../constructs/model-bucket.ts';
import { NativeLayers, type NativeLayersProps } from '../constructs/native-layers.ts';

/** Props of {@link InferletStack}. */
export interface InferletStackProps extends StackProps {
  /** How the native layers are built; tests pass builders that write to a temporary folder. */
  readonly nativeLayers?: NativeLayersProps;
}

/** The serverless inference tier: the model bucket, the native layers and the image (OCR) function. */
export class InferletStack extends Stack {
  /** The bucket of the model repository. */
  readonly models: ModelBucket;
  /** The onnxruntime-node and sharp layers. */
  readonly nativeLayers: NativeLayers;
  /** The OCR function behind an IAM-authenticated Function URL. */
  readonly imageFunction: InferenceFunction;

  constructor(scope: Construct, id: string, props: InferletStackProps = {}) {
    super(scope, id, props);

    this.models = new ModelBucket(this, 'Models');
    this.nativeLayers = new NativeLayers(this, 'NativeLayers', props.nativeLayers);
    this.imageFunction = new InferenceFunction(this, 'ImageFunction', {
      entry: 'functions/image/handler.ts',
      models: this.models,
      layers: this.nativeLayers.all,
      serviceName: 'image',
    });

    const bucketLogicalId = this.resolve((this.models.bucket.node.defaultChild as CfnBucket).logicalId);
    Validations.of(this.imageFunction.role.node.findChild('DefaultPolicy')).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketLogicalId}.Arn>/*]`,
      reason:
        'The function reads model files it discovers at run time (<model>/<version>/...), so s3:GetObject ' +
        'covers every object of the model bucket; the bucket holds nothing else.',
    });
    Validations.of(this.imageFunction.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Pinned to nodejs22.x: the bundle targets node22 and the native layers are built and tested for it; ' +
        'moving to a newer runtime is a separate, tested change.',
    });

    new CfnOutput(this, 'ModelRepository', { value: `s3://${this.models.bucket.bucketName}/` });
    new CfnOutput(this, 'ImageFunctionUrl', { value: this.imageFunction.url.url });
  }
}
