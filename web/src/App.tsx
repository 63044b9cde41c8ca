import { lazy, Suspense } from "react";
import { usePing } from "./api/hooks";
import { Link, match, useRouter } from "./lib/router";
import { ErrorBoundary } from "./components/ErrorView";
import { Loading, EmptyState } from "./components/ui";
import { Logo, CloudOff, Search } from "./components/icons";
import { PipelinesPage } from "./pages/PipelinesPage";

// The editor (CodeMirror) and the graph (React Flow) load with the pages
// that need them, keeping the first load small.
const CreatePipelinePage = lazy(() => import("./pages/CreatePipelinePage"));
const PipelineDetailPage = lazy(() => import("./pages/PipelineDetailPage"));

function TopBar() {
  const { location } = useRouter();
  const ping = usePing();
  const path = location.pathname;
  const onNew = path === "/pipelines/new";
  const onList = !onNew && (path === "/" || path.startsWith("/pipelines"));
  const down = ping.isError;
  return (
    <>
      <header className="topbar">
        <Link to="/pipelines" className="brand" aria-label="Runnel home">
          <Logo />
          Runnel
        </Link>
        <nav className="nav" aria-label="Main">
          <Link to="/pipelines" className={onList ? "active" : ""}>
            Pipelines
          </Link>
          <Link to="/pipelines/new" className={onNew ? "active" : ""}>
            New pipeline
          </Link>
        </nav>
        <div className="topbar-right">
          <span
            className={`api-status ${ping.isSuccess && !down ? "ok" : down ? "down" : ""}`}
            data-testid="api-status"
            title="The console checks the API every few seconds"
          >
            <span className="dot" />
            {down ? "API unreachable" : ping.isSuccess ? "API connected" : "Connecting…"}
          </span>
          <a href="/api/v1/api-docs/openapi.json" target="_blank" rel="noreferrer">
            API reference
          </a>
        </div>
      </header>
      {down && (
        <div className="banner-offline" role="alert" data-testid="offline-banner">
          <CloudOff width={16} height={16} />
          The Runnel API at /api/v1 is not answering. What you see may be out of date; the console keeps retrying.
        </div>
      )}
    </>
  );
}

function Routes() {
  const { location } = useRouter();
  const path = location.pathname;
  if (path === "/" || path === "/pipelines" || path === "/pipelines/") return <PipelinesPage />;
  if (match("/pipelines/new", path)) return <CreatePipelinePage />;
  const detail = match("/pipelines/:id", path);
  if (detail) return <PipelineDetailPage key={detail.id} id={detail.id} />;
  return (
    <div className="card">
      <EmptyState
        icon={<Search />}
        title="There is no page here"
        testId="page-not-found"
        actions={
          <Link className="btn" to="/pipelines">
            All pipelines
          </Link>
        }
      >
        The console has no page at <code>{path}</code>.
      </EmptyState>
    </div>
  );
}

export function App() {
  const { location } = useRouter();
  return (
    <div className="app">
      <TopBar />
      <main className="main">
        <ErrorBoundary resetKey={location.pathname}>
          <Suspense fallback={<Loading what="page" />}>
            <Routes />
          </Suspense>
        </ErrorBoundary>
      </main>
    </div>
  );
}
