# The GPU tier's server on onnxruntime-node's bundled WebGPU provider (Dawn on Vulkan): the same HTTP app as
# `npm start`, bundled, with nothing downloaded but npm and Debian packages. The default image of the CDK
# GPU service; Dockerfile.cuda is the CUDA option (it downloads the CUDA provider at build time).
# Built by `cdk deploy` (ContainerImage.fromAsset); locally: docker build -t inferlet-gpu .
#   docker run --gpus all -p 8080:8080 -e MODEL_REPOSITORY=s3://bucket/ inferlet-gpu
# NVIDIA's container runtime mounts the driver's Vulkan ICD only with the `graphics` capability (set below).
# Without a GPU the same image serves on the CPU: EXECUTION_PROVIDER=auto finds no GPU provider, logs it,
# and /v2/models/{name} says so (docs/gpu.md).

FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
# Lifecycle scripts stay off: `prepare` builds the model repository, which the image does not carry (models
# come from S3), and onnxruntime-node's install script would fetch CUDA libraries that WebGPU does not need.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY functions ./functions
COPY web ./web
COPY scripts/build-web.ts scripts/bundle.ts ./scripts/
COPY scripts/gpu-image ./scripts/gpu-image
# The server bundled into one file, the page, and the native packages (onnxruntime-node trimmed to
# linux-x64, sharp with libvips) with their own dependencies: the steps test/server/gpu-image.test.ts runs.
RUN node --import tsx scripts/gpu-image/build-context.ts /app

FROM node:22-bookworm-slim
# The Vulkan loader and glvnd: without glvnd the loader finds no NVIDIA driver (../shared/FACTS.md).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libopengl0 libgles2 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app ./
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    EMBEDDED_S3=off \
    MODEL_TIER=gpu \
    MODEL_CACHE_DIR=/tmp/models \
    EXECUTION_PROVIDER=auto \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics
USER 1000:1000
EXPOSE 8080
CMD ["node", "--enable-source-maps", "dist/server/index.mjs"]
