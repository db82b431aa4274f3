# The GPU tier's server: the same HTTP app as `npm start`, bundled, on the CUDA runtime.
# Built by `cdk deploy` (ContainerImage.fromAsset); locally: docker build -t inferlet-gpu .
#   docker run --gpus all -p 8080:8080 -e MODEL_REPOSITORY=s3://bucket/ inferlet-gpu
# Without a GPU the same image serves on CPU: the CUDA provider fails to load and the session falls back
# with a logged warning.

FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# Lifecycle scripts stay off: `prepare` builds the model repository, which the image does not carry (models
# come from S3), and onnxruntime-node's install runs on its own below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY functions ./functions
RUN npx esbuild functions/server/main.ts --bundle --platform=node --format=esm --target=node22 \
      --packages=external --sourcemap --outfile=dist/server/index.mjs
# The page (GET /) and the API docs (GET /docs), bundled from web/ and swagger-ui-dist (devDependencies,
# here only): the server reads them from dist/web under its working directory.
COPY web ./web
COPY scripts/build-web.ts ./scripts/
RUN npx tsx scripts/build-web.ts dist/web
# Production dependencies only, then onnxruntime-node's CUDA 12 execution provider (libonnxruntime_providers_cuda.so
# and friends, from its NuGet package): the install script with ONNXRUNTIME_NODE_INSTALL=cuda12 (the variable
# wins over .npmrc's skip).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js \
 && test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so

# onnxruntime 1.30's CUDA provider is built for CUDA 12 and cuDNN 9.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04
COPY --from=build /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/server ./dist/server
COPY --from=build /app/dist/web ./dist/web
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    EMBEDDED_S3=off \
    MODEL_TIER=gpu \
    MODEL_CACHE_DIR=/tmp/models \
    EXECUTION_PROVIDER=cuda
USER 1000:1000
EXPOSE 8080
CMD ["node", "--enable-source-maps", "dist/server/index.mjs"]
