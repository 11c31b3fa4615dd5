import { redirect } from "next/navigation";
import { currentUser } from "@/lib/session";
import { LoginForm } from "./login-form";

export const dynamic = "force-dynamic";

export default async function LoginPage() {
  if (await currentUser()) redirect("/dashboard");
  return (
    <div className="card login">
      <h1>Sign in to Depot</h1>
      <LoginForm />
    </div>
  );
}
