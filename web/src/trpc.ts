import { createTRPCContext } from "@trpc/tanstack-react-query";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "../../clients/ts/app-router";

export type { AppRouter };
export type Outputs = inferRouterOutputs<AppRouter>;
export type User = Outputs["auth"]["me"];
export type Room = Outputs["rooms"]["list"][number];
export type Message = Outputs["messages"]["send"];

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();
