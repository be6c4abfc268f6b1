import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `make web-dev` serves this on :5173 against `make run` (API on :3000, WebSocket
// on :3001); the server's CORS default allows exactly this origin.
export default defineConfig({
  plugins: [react()],
  server: { port: 5173, strictPort: true },
  build: { outDir: "dist", emptyOutDir: true },
});
