# syntax=docker/dockerfile:1
# Build: compile TypeScript with the full dependency set.
FROM node:22-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY packages/member/src ./packages/member/src
# The guarded postgres.js: its index.d.ts types src/db/database.ts's `#postgres-guarded` import.
COPY packages/postgres-guarded ./packages/postgres-guarded
RUN npm run build

# Run: production dependencies and compiled output only, as a non-root user,
# with tini as PID 1 so that SIGTERM reaches node and zombies are reaped.
FROM node:22-slim
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000
WORKDIR /app
COPY package.json package-lock.json ./
# fastify is a peer dependency of the package: npm installs it here too (--omit=dev keeps peers).
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# The dashboard's static files are served from the package root, not compiled; so is the guarded
# postgres.js, which package.json's "imports" maps #postgres-guarded to (packages/postgres-guarded/README.md).
COPY src/dashboard/public ./src/dashboard/public
COPY packages/postgres-guarded ./packages/postgres-guarded
COPY drizzle ./drizzle
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
# `keyward migrate` before a rollout: docker run IMAGE node dist/src/cli.js migrate
CMD ["node", "dist/src/cli.js", "serve"]
