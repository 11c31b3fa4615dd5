import { uploadsInProgressOf } from "@depot/db";
import { redirect } from "next/navigation";
import { db } from "@/lib/db";
import { getEnv } from "@/lib/env";
import { visibleCohorts } from "@/lib/permissions";
import { currentUser } from "@/lib/session";
import { Uploader } from "./uploader";

export const dynamic = "force-dynamic";

export default async function UploadPage() {
  const user = await currentUser();
  if (!user) redirect("/login?callbackUrl=/upload");
  const cohorts = (await visibleCohorts(user)).filter((c) => c.may.upload).map(({ id, name }) => ({ id, name }));
  const env = getEnv();
  const unfinished = cohorts.length === 0 ? [] : await uploadsInProgressOf(db(), user.id);
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
          maxUploadBytes={env.maxUploadBytes}
          allowedExtensions={env.allowedExtensions}
          precheckRetentionHours={Math.round(env.precheckRetentionMs / 3600_000)}
          unfinished={unfinished.map((u) => ({
            ...u,
            offset: Number(u.offset),
            length: Number(u.length),
            updatedAt: u.updatedAt.toISOString(),
          }))}
        />
      )}
    </>
  );
}
