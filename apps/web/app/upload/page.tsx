import { listCohorts, membershipsOf } from "@depot/db";
import { redirect } from "next/navigation";
import { db } from "@/lib/db";
import { getEnv } from "@/lib/env";
import { isAdministrator } from "@/lib/permissions";
import { currentUser } from "@/lib/session";
import { Uploader } from "./uploader";

export const dynamic = "force-dynamic";

export default async function UploadPage() {
  const user = await currentUser();
  if (!user) redirect("/login?callbackUrl=/upload");
  const cohorts = isAdministrator(user)
    ? (await listCohorts(db())).map((c) => ({ id: c.id, name: c.name }))
    : (await membershipsOf(db(), user.id))
        .filter((m) => m.role === "manager")
        .map((m) => ({ id: m.cohortId, name: m.name }));
  const env = getEnv();
  return (
    <>
      <h1>Upload</h1>
      {cohorts.length === 0 ? (
        <div className="card" data-testid="no-upload-cohorts">
          You may not upload to any cohort. Ask an administrator to make you a manager of your cohort.
        </div>
      ) : (
        <Uploader
          cohorts={cohorts}
          smallUploadMaxBytes={env.smallUploadMaxBytes}
          maxUploadBytes={env.maxUploadBytes}
          allowedExtensions={env.allowedExtensions}
        />
      )}
    </>
  );
}
