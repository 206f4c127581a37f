# kickstand as a container. DHCP needs the host's network (broadcasts), so run it with host
# networking (see docker-compose.yml). Base image pinned by digest: a rebuild gets the same base.
ARG NODE_IMAGE=node:20-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0

FROM ${NODE_IMAGE} AS deps
# better-sqlite3 and cpu-features build from source.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/kickstand
COPY package.json package-lock.json ./
# The dependencies' install scripts, not the project's own `prepare` (the build), which needs the
# sources: it runs in the image below.
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm rebuild --no-audit --no-fund

FROM ${NODE_IMAGE}
# ipxe: the iPXE binaries served over TFTP; ipmitool: the IPMI power driver; python3: binds the
# DHCP sockets to the provisioning interface (SO_BINDTODEVICE, see server/dhcp/bind-device.ts);
# iproute2: finds that interface's address.
RUN apt-get update && apt-get install -y --no-install-recommends ipxe ipmitool python3 iproute2 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/kickstand
COPY --from=deps /opt/kickstand/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY bin ./bin
COPY server ./server
COPY templates ./templates
COPY ignition ./ignition
COPY machines ./machines
# server/ compiled once (bin/build.mjs): bin/kickstand finds this build matching the sources and
# runs it, without tsx's loader.
RUN node bin/build.mjs
ENV KICKSTAND_DATA_DIR=/var/lib/kickstand \
    KICKSTAND_INVENTORY=/etc/kickstand/machines \
    KICKSTAND_ASSETS_DIR=/var/lib/kickstand/assets
VOLUME ["/var/lib/kickstand"]
EXPOSE 8080/tcp 69/udp 67/udp 4011/udp
ENTRYPOINT ["/opt/kickstand/bin/kickstand"]
CMD ["serve"]
