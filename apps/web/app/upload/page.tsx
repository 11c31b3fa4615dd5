import { redirect } from "next/navigation";
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
