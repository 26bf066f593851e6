import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
// Types only: the exporter is an optional peer dependency, loaded by the first prometheusSink().
import type { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { InvalidOptionError } from "../errors.js";
import { describeValue } from "../internal/describe-value.js";
import { envInteger, envString } from "../internal/env.js";
import { requireOptional } from "../internal/optional-package.js";
import { emit, warnOnce } from "../internal/report.js";
import { defineSink } from "./types.js";
import type { Sink } from "./types.js";

export interface PrometheusSinkOptions {
  /**
   * Port of the sink's own HTTP server. `0` lets the operating system pick a free port (read it from
   * `sink.url()` once `ready`); `false` starts no server, for apps that serve the metrics on their own
   * server with `prometheusHandler()`.
   *
   * Default: `OTEL_EXPORTER_PROMETHEUS_PORT`, else `9464` (Prometheus' registered port for OpenTelemetry).
   * A port in use makes `ready` (of the sink and of `setup()`) reject with an error naming this option.
   *
   * @example prometheusSink({ port: 9100 })
   */
  port?: number | false;
  /**
   * Interface the server listens on. Default: `OTEL_EXPORTER_PROMETHEUS_HOST`, else every interface (what a
   * Prometheus server on another machine or pod needs). Use `"127.0.0.1"` to keep the metrics local.
   *
   * @example prometheusSink({ host: "127.0.0.1" })
   */
  host?: string;
  /**
   * Path the metrics are served at; every other path answers 404. Default: `/metrics`.
   *
   * @example prometheusSink({ path: "/internal/metrics" })
   */
  path?: string;
}

/** A Node `http` request listener; also fits express (`app.get("/metrics", handler)`) and similar routers. */
export type PrometheusRequestHandler = (request: IncomingMessage, response: ServerResponse) => void;

/** The sink `prometheusSink()` returns. */
export interface PrometheusSink extends Sink {
  /** Resolves once the server listens (at once with `port: false`); rejects naming the option when it cannot. */
  readonly ready: Promise<void>;
  /** The metrics URL once the server listens, e.g. `http://127.0.0.1:9464/metrics`; otherwise undefined. */
  url(): string | undefined;
  /** Writes this sink's metrics in the Prometheus text format, whatever the request's path. */
  readonly handler: PrometheusRequestHandler;
}

const DEFAULT_PORT = 9464;
const DEFAULT_PATH = "/metrics";
const ENV_PORT = "OTEL_EXPORTER_PROMETHEUS_PORT";
const ENV_HOST = "OTEL_EXPORTER_PROMETHEUS_HOST";

/** Sinks not shut down yet, oldest first: `prometheusHandler()` without an argument serves the newest. */
const liveSinks: PrometheusSink[] = [];

/**
 * Serves tokentrace's metrics for Prometheus to scrape, using OpenTelemetry's Prometheus exporter: its own
 * HTTP server on `port` (default 9464) at `path` (default `/metrics`), and `sink.handler` /
 * `prometheusHandler()` to serve the same output from the app's own HTTP server.
 *
 * Binding the port is asynchronous: await `setup(...).ready` (or `sink.ready`) to learn at start-up that the
 * port is in use instead of finding it in the logs.
 *
 * @example
 * const telemetry = setup({ serviceName: "support-bot", sinks: [prometheusSink({ port: 9464 })] });
 * await telemetry.ready; // throws InvalidOptionError naming `prometheusSink.port` when the port is taken
 */
export function prometheusSink(options: PrometheusSinkOptions = {}): PrometheusSink {
  const { port, host, path } = resolveOptions(options);
  let server: Server | undefined;
  let listeningUrl: string | undefined;

  const closeServer = (): Promise<void> =>
    new Promise((resolve) => {
      if (server === undefined || !server.listening) {
        resolve();
        return;
      }
      server.close(() => resolve());
      server.closeAllConnections();
    });
  const ShutdownAwarePrometheusExporter = shutdownAwareExporterClass();
  const exporter = new ShutdownAwarePrometheusExporter(async () => {
    const index = liveSinks.indexOf(sink);
    if (index >= 0) liveSinks.splice(index, 1);
    await closeServer();
  });
  const handler: PrometheusRequestHandler = (request, response) => exporter.getMetricsRequestHandler(request, response);

  let ready: Promise<void> = Promise.resolve();
  if (port !== false) {
    const ownServer = createServer((request, response) => {
      const pathname = pathnameOf(request.url);
      if (pathname === path && (request.method === "GET" || request.method === "HEAD")) {
        handler(request, response);
      } else {
        response.statusCode = 404;
        response.setHeader("content-type", "text/plain; charset=utf-8");
        response.end(`Not found. tokentrace serves metrics at ${path}\n`);
      }
    });
    // Like OpenTelemetry's own exporter server: never keep the process alive just to serve metrics.
    ownServer.unref();
    server = ownServer;
    ready = new Promise<void>((resolve, reject) => {
      ownServer.once("error", (error: NodeJS.ErrnoException) => reject(listenError(error, host, port)));
      ownServer.listen({ port, host }, () => {
        listeningUrl = `http://${urlHostOf(ownServer.address() as AddressInfo)}${path}`;
        resolve();
      });
    });
    // Nobody may await `ready`: keep a failure from becoming an unhandled rejection, and say it once.
    ready.catch((error: unknown) => emit((error as Error).message));
  }

  const sink: PrometheusSink = {
    ...defineSink("prometheus", { metricReaders: [exporter], ready }),
    ready,
    url: () => listeningUrl,
    handler,
  };
  liveSinks.push(sink);
  return sink;
}

/**
 * A request handler that serves the metrics of `sink`, or, without an argument, of the newest
 * `prometheusSink()` still running (so it can be mounted before `setup()` runs). Answers 503 while there
 * is none. It writes metrics whatever the path: route it yourself.
 *
 * @example
 * // node:http
 * http.createServer((req, res) => (req.url === "/metrics" ? metrics(req, res) : app(req, res)));
 * // express
 * app.get("/metrics", prometheusHandler());
 */
export function prometheusHandler(sink?: PrometheusSink): PrometheusRequestHandler {
  return (request, response) => {
    const target = sink ?? liveSinks[liveSinks.length - 1];
    if (target === undefined) {
      response.statusCode = 503;
      response.setHeader("content-type", "text/plain; charset=utf-8");
      response.end("# tokentrace: no prometheusSink() is set up yet\n");
      return;
    }
    target.handler(request, response);
  };
}

type ShutdownAwareExporterClass = new (beforeShutdown: () => Promise<void>) => PrometheusExporter;
let shutdownAwareExporter: ShutdownAwareExporterClass | undefined;

/**
 * OpenTelemetry's exporter, with our server (not its own) closed on shutdown. Defined on first use, from the
 * optional package: a missing package throws at `prometheusSink()`, naming it and its install command.
 */
function shutdownAwareExporterClass(): ShutdownAwareExporterClass {
  if (shutdownAwareExporter !== undefined) return shutdownAwareExporter;
  const [exporterModule] = requireOptional("prometheusSink()", ["@opentelemetry/exporter-prometheus"]) as [
    { PrometheusExporter: typeof PrometheusExporter },
  ];
  class ShutdownAwarePrometheusExporter extends exporterModule.PrometheusExporter {
    constructor(private readonly beforeShutdown: () => Promise<void>) {
      // We run the server ourselves: OpenTelemetry's reads port 0 as "default port" and reports a port in
      // use only through diag, after the fact.
      super({ preventServerStart: true });
    }

    override async onShutdown(): Promise<void> {
      await this.beforeShutdown();
      await super.onShutdown();
    }
  }
  shutdownAwareExporter = ShutdownAwarePrometheusExporter;
  return shutdownAwareExporter;
}

/** Checks options as JavaScript callers may pass them (anything at all) and fills in the defaults. */
function resolveOptions(value: unknown): {
  port: number | false;
  host: string | undefined;
  path: string;
} {
  if (value === null || typeof value !== "object") {
    throw new InvalidOptionError("prometheusSink", `expected an options object, received ${describeValue(value)}.`);
  }
  const options = value as { readonly [K in keyof PrometheusSinkOptions]?: unknown };
  const known = new Set(["port", "host", "path"]);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) {
      throw new InvalidOptionError(`prometheusSink.${key}`, "unknown option. Accepted options: port, host, path.");
    }
  }

  let port: number | false;
  if (options.port !== undefined) {
    if (options.port !== false && !isPort(options.port)) {
      throw new InvalidOptionError(
        "prometheusSink.port",
        `expected an integer from 0 to 65535 (0: any free port) or false (no server of its own), received ${describeValue(options.port)}.`,
      );
    }
    port = options.port;
  } else {
    port =
      envInteger(ENV_PORT, 0, 65_535, (raw) => {
        warnOnce(`${ENV_PORT}="${raw}" is not a port number; using ${DEFAULT_PORT}.`);
      }) ?? DEFAULT_PORT;
  }

  let host: string | undefined;
  if (options.host !== undefined) {
    if (typeof options.host !== "string" || options.host.trim() === "") {
      throw new InvalidOptionError(
        "prometheusSink.host",
        `expected a host name or IP address, received ${describeValue(options.host)}.`,
      );
    }
    host = options.host;
  } else {
    host = envString(ENV_HOST)?.trim();
  }

  let path = DEFAULT_PATH;
  if (options.path !== undefined) {
    if (typeof options.path !== "string" || !options.path.startsWith("/") || /[?#\s]/.test(options.path)) {
      throw new InvalidOptionError(
        "prometheusSink.path",
        `expected a path starting with "/" and without query or spaces, such as "/metrics", received ${describeValue(options.path)}.`,
      );
    }
    path = options.path;
  }
  return { port, host, path };
}

function listenError(error: NodeJS.ErrnoException, host: string | undefined, port: number): InvalidOptionError {
  const where = `${host ?? "every interface"}, port ${port}`;
  switch (error.code) {
    case "EADDRINUSE":
      return new InvalidOptionError(
        "prometheusSink.port",
        `port ${port} is already in use (${where}). Choose another port, 0 for any free port, or false to serve the metrics only through prometheusHandler().`,
        { cause: error },
      );
    case "EACCES":
      return new InvalidOptionError(
        "prometheusSink.port",
        `not allowed to listen on port ${port} (${where}); ports below 1024 need privileges. Choose a port of 1024 or more.`,
        { cause: error },
      );
    case "EADDRNOTAVAIL":
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new InvalidOptionError(
        "prometheusSink.host",
        `cannot listen on host "${host ?? ""}" (${error.code}): it is not an address of this machine.`,
        { cause: error },
      );
    default:
      return new InvalidOptionError(
        "prometheusSink.port",
        `the metrics server could not start on ${where}: ${error.message}`,
        {
          cause: error,
        },
      );
  }
}

/** `host:port` for a URL; an all-interfaces address becomes `localhost`. */
function urlHostOf(address: AddressInfo): string {
  const host = address.address === "::" || address.address === "0.0.0.0" ? "localhost" : address.address;
  return `${host.includes(":") ? `[${host}]` : host}:${address.port}`;
}

function pathnameOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const end = url.search(/[?#]/);
  return end === -1 ? url : url.slice(0, end);
}

function isPort(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 65_535;
}
