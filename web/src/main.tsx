import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { App } from "./App";
import { retryPolicy } from "./api/hooks";
import { Router } from "./lib/router";
import { ToastProvider } from "./components/Toasts";
import "./styles.css";

const queryClient = new QueryClient({
  defaultOptions: {
    queries: { retry: retryPolicy, refetchOnWindowFocus: true, staleTime: 1000 },
    mutations: { retry: false },
  },
});

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <Router>
        <ToastProvider>
          <App />
        </ToastProvider>
      </Router>
    </QueryClientProvider>
  </StrictMode>,
);
