package httpapi

// Wire types mirror the spec's JSON (camelCase fields, integer enums); this
// file is the one place they are converted to and from the Go types.

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// cloudAccount is the CloudAccount of the spec.
type cloudAccount struct {
	ID              string  `json:"id"`
	AccountID       string  `json:"accountId,omitempty"`
	UserID          string  `json:"userId,omitempty"`
	CloudType       int     `json:"cloudType" enum:"1,2,4,8,16,32,64,128,256,512,1024,2048,4096,8192"`
	Name            string  `json:"name"`
	Region          string  `json:"region,omitempty"`
	Endpoint        string  `json:"endpoint,omitempty"`
	ServiceURL      *string `json:"serviceUrl"`
	AccessKey       string  `json:"accessKey,omitempty"`
	SecretKey       string  `json:"secretKey,omitempty"`
	CredentialsData string  `json:"credentialsData,omitempty"`
	Shared          bool    `json:"shared"`
	Active          bool    `json:"active"`
	InternalStorage bool    `json:"internalStorage"`
	StorageTier     int     `json:"storageTier" enum:"0,1,2,4,8,16"`
}

func accountOut(a amove.CloudAccount) cloudAccount {
	out := cloudAccount{
		ID: a.ID, AccountID: a.TenantID, UserID: a.UserID, CloudType: int(a.CloudType), Name: a.Name,
		Region: a.Region, Endpoint: a.Endpoint, AccessKey: a.AccessKey, SecretKey: a.SecretKey,
		CredentialsData: a.CredentialsData, Shared: a.Shared, Active: a.Active,
		InternalStorage: a.InternalStorage, StorageTier: int(a.StorageTier),
	}
	if a.ServiceURL != "" {
		out.ServiceURL = &a.ServiceURL
	}
	return out
}

func accountsOut(as []amove.CloudAccount) []cloudAccount {
	out := make([]cloudAccount, len(as))
	for i, a := range as {
		out[i] = accountOut(a)
	}
	return out
}

// newAccount converts an insert body. accountId, userId and internalStorage
// are server-set and ignored, as the spec says.
func (a cloudAccount) newAccount() (amove.NewAccount, error) {
	ct := provider.CloudType(a.CloudType)
	if !ct.Valid() {
		return amove.NewAccount{}, invalid("unknown cloudType " + strconv.Itoa(a.CloudType))
	}
	n := amove.NewAccount{CloudType: ct, Name: a.Name, Region: a.Region, Endpoint: a.Endpoint,
		AccessKey: a.AccessKey, SecretKey: a.SecretKey, CredentialsData: a.CredentialsData,
		Shared: a.Shared, StorageTier: amove.StorageTier(a.StorageTier)}
	if a.ServiceURL != nil {
		n.ServiceURL = *a.ServiceURL
	}
	return n, nil
}

// inlineCredentials are the Fastr server and keys a request names inline
// (p2p_transfer/initiate's sourceAccount), or nil when it names none: a
// CloudAccount the API returned carries masked keys ("****..."), which
// are no credentials, and its id names the stored account.
func (a cloudAccount) inlineCredentials() *amove.FastrCredentials {
	if a.ServiceURL == nil || *a.ServiceURL == "" || a.AccessKey == "" || a.SecretKey == "" ||
		strings.HasPrefix(a.AccessKey, "****") || strings.HasPrefix(a.SecretKey, "****") {
		return nil
	}
	return &amove.FastrCredentials{CloudType: provider.CloudType(a.CloudType), ServiceURL: *a.ServiceURL,
		AccessKey: a.AccessKey, SecretKey: a.SecretKey}
}

// collection is the DTOCollection of the hosted API.
type collection[T any] struct {
	Data    []T               `json:"data"`
	Total   int               `json:"total"`
	Options collectionOptions `json:"options"`
}

type collectionOptions struct {
	PageSize int          `json:"pageSize"`
	Page     int          `json:"page"`
	Sort     []sortOption `json:"sort"`
}

type sortOption struct {
	Field      string `json:"field"`
	Descending bool   `json:"descending"`
}

// bucket is one entry of an ICloudStorageCollection.
type bucket struct {
	ID         string     `json:"id,omitempty"`
	Name       string     `json:"name"`
	Region     string     `json:"region,omitempty"`
	CreateDate *time.Time `json:"createDate,omitempty"`
}

type bucketList struct {
	Data              []bucket `json:"data"`
	ContinuationToken string   `json:"continuationToken"`
}

func bucketsOut(bs []provider.Bucket) bucketList {
	out := bucketList{Data: make([]bucket, len(bs))}
	for i, b := range bs {
		out.Data[i] = bucket{ID: b.ID, Name: b.Name, Region: b.Region}
		if !b.Created.IsZero() {
			c := b.Created.UTC()
			out.Data[i].CreateDate = &c
		}
	}
	return out
}

// Object types, as download_object's objectType names them.
const (
	objectFile      = 1
	objectDirectory = 2
)

// object is one entry of an ICloudStorageObjectCollection.
type object struct {
	ID           string   `json:"id,omitempty"`
	Name         string   `json:"name"`
	Key          string   `json:"key"`
	Size         int64    `json:"size"`
	LastModified wireTime `json:"lastModified,omitempty"`
	ETag         string   `json:"eTag,omitempty"`
	ContentType  string   `json:"contentType,omitempty"`
	ObjectType   int      `json:"objectType"`
	IsFolder     bool     `json:"isFolder"`
}

// wireTime is a time as encoding/json writes a time.Time (RFC 3339 with
// nanoseconds, here always UTC), formatted when the answer is built: a
// listing of a thousand objects then makes no MarshalJSON call per object,
// whose output encoding/json would parse again to check it.
type wireTime string

func newWireTime(t time.Time) wireTime { return wireTime(t.UTC().Format(time.RFC3339Nano)) }

type objectList struct {
	Data              []object `json:"data"`
	ContinuationToken string   `json:"continuationToken"`
}

func objectsOut(p provider.Page) objectList {
	out := objectList{Data: make([]object, len(p.Objects)), ContinuationToken: p.NextToken}
	for i, o := range p.Objects {
		w := object{ID: o.ID, Name: path.Base(strings.TrimSuffix(o.Key, "/")), Key: o.Key, Size: o.Size,
			ETag: o.ETag, ContentType: o.ContentType, ObjectType: objectFile, IsFolder: o.IsFolder}
		if o.IsFolder {
			w.ObjectType = objectDirectory
		}
		if !o.ModTime.IsZero() {
			w.LastModified = newWireTime(o.ModTime)
		}
		out.Data[i] = w
	}
	return out
}

// listPrefix turns the API's path ("/" or "/photos/" or "photos") into a
// key prefix ("" or "photos/").
func listPrefix(p string) string {
	p = strings.TrimLeft(p, "/")
	if p != "" && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// transferStatus is the client-transfer status of the spec, with the
// summary fields of client_transfer/all and our extras.
type transferStatus struct {
	TransferID       string     `json:"transferId"`
	Status           string     `json:"status" enum:"pending,running,paused,completed,failed,cancelled"`
	TransferredBytes int64      `json:"transferredBytes"`
	TotalBytes       int64      `json:"totalBytes"`
	StartTime        time.Time  `json:"startTime"`
	EndTime          *time.Time `json:"endTime"`
	ErrorMessage     *string    `json:"errorMessage"`
	PausedDuration   *string    `json:"pausedDuration"`
	SourceBucket     string     `json:"sourceBucket"`
	SourcePath       string     `json:"sourcePath"`
	TargetBucket     string     `json:"targetBucket"`
	TargetPath       string     `json:"targetPath"`
	Progress         int        `json:"progress"`
	// Ours: what kind of job, file counts, rate and integrity.
	Kind             string  `json:"kind" enum:"upload,download,copy,server_transfer,p2p"`
	FilesDone        int     `json:"filesDone"`
	FilesTotal       int     `json:"filesTotal"`
	FilesFailed      int     `json:"filesFailed"`
	BytesPerSecond   float64 `json:"bytesPerSecond"`
	EtaSeconds       float64 `json:"etaSeconds"`
	ChecksumVerified bool    `json:"checksumVerified"`
}

func statusOut(st transfer.Status) transferStatus {
	out := transferStatus{
		TransferID: st.ID, Status: string(st.State), TransferredBytes: st.BytesDone, TotalBytes: st.BytesTotal,
		StartTime: st.Created.UTC(), Kind: string(st.Kind), FilesDone: st.FilesDone, FilesTotal: st.FilesTotal,
		FilesFailed: st.FilesFailed, BytesPerSecond: st.BytesPerSecond, EtaSeconds: st.ETA.Seconds(),
		ChecksumVerified: st.ChecksumVerified,
	}
	if st.State.Final() {
		end := st.Updated.UTC()
		out.EndTime = &end
	}
	if st.Error != "" {
		out.ErrorMessage = &st.Error
	}
	if st.PausedDuration > 0 {
		d := timeSpan(st.PausedDuration)
		out.PausedDuration = &d
	}
	if st.BytesTotal > 0 {
		out.Progress = int(st.BytesDone * 100 / st.BytesTotal)
	} else if st.State == transfer.Completed {
		out.Progress = 100
	}
	switch st.Kind {
	case transfer.Upload:
		out.SourcePath, out.TargetBucket, out.TargetPath = st.LocalPath, st.Dest.Bucket, st.Dest.Key
	case transfer.Download:
		out.SourceBucket, out.SourcePath, out.TargetPath = st.Source.Bucket, st.Source.Key, st.LocalPath
	default:
		out.SourceBucket, out.SourcePath = st.Source.Bucket, st.Source.Key
		out.TargetBucket, out.TargetPath = st.Dest.Bucket, st.Dest.Key
	}
	return out
}

// timeSpan formats d as .NET serializes a TimeSpan ("c" format,
// [d.]hh:mm:ss[.fffffff]), as the product's pausedDuration is.
func timeSpan(d time.Duration) string {
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h, m, sec := d/time.Hour, d%time.Hour/time.Minute, d%time.Minute/time.Second
	out := fmt.Sprintf("%02d:%02d:%02d", h, m, sec)
	if days > 0 {
		out = fmt.Sprintf("%d.%s", days, out)
	}
	if ticks := d % time.Second / 100; ticks > 0 { // .NET ticks are 100 ns
		out += fmt.Sprintf(".%07d", ticks)
	}
	return out
}

// The request bodies and answers that have no other home: named so the
// OpenAPI document (openapi.go) is made from the very types the handlers
// decode and encode.

// shareRequest is manage_share's body: the agent's full CloudAccount or the
// hosted {id, shared}; only these two fields are read.
type shareRequest struct {
	ID     string `json:"id"`
	Shared *bool  `json:"shared" openapi:"required"`
}

type loginRequest struct {
	Username string `json:"username" openapi:"required"`
	Password string `json:"password" openapi:"required"`
	Type     int    `json:"type"`
}

// loginResponse is the spec's {jwtToken, challenge, session}: this agent
// has no MFA, so challenge is always 0 (None), plus when the token expires.
type loginResponse struct {
	JWTToken  string    `json:"jwtToken"`
	Challenge int       `json:"challenge"`
	Session   string    `json:"session"`
	Expires   time.Time `json:"expires"`
}

type hostedBucketsRequest struct {
	CloudAccountID string `json:"cloudAccountId"`
	IncludeRegion  *bool  `json:"includeRegion"`
}

type listObjectsRequest struct {
	Account cloudAccount `json:"account"`
	Request listRequest  `json:"request" openapi:"required"`
}

type createFolderRequest struct {
	CloudAccount cloudAccount `json:"cloudAccount"`
	ID           string       `json:"id"`
	StorageName  string       `json:"storageName" openapi:"required"`
	Path         string       `json:"path"`
	FolderName   string       `json:"folderName" openapi:"required"`
}

type uploadRequest struct {
	CloudAccount  cloudAccount `json:"cloudAccount"`
	StorageName   string       `json:"storageName" openapi:"required"`
	UploadPath    string       `json:"uploadPath"`
	LocalFilePath string       `json:"localFilePath" openapi:"required"`
	ID            string       `json:"id"`
	Name          string       `json:"name"`
}

type downloadRequest struct {
	CloudAccount cloudAccount `json:"cloudAccount"`
	StorageName  string       `json:"storageName" openapi:"required"`
	DownloadPath string       `json:"downloadPath" openapi:"required"`
	ObjectKey    string       `json:"objectKey"`
	ID           string       `json:"id"`
	Name         string       `json:"name"`
	ObjectType   int          `json:"objectType" enum:"0,1,2"`
	// Overwrite is amove-go's addition (docs/security.md): without it an
	// existing local file is refused and left as it was.
	Overwrite bool `json:"overwrite"`
}

type authURLRequest struct {
	RedirectURL string `json:"redirectURL"`
	CloudName   string `json:"cloudName"`
	Shared      bool   `json:"shared"`
}

type authCallbackRequest struct {
	Code             string `json:"code"`
	State            string `json:"state"`
	Error            string `json:"error"`
	ErrorDescription string `json:"errorDescription"`
	RedirectURL      string `json:"redirectURL"`
}

// transferStarted answers server_transfer/initiate (with status) and
// p2p_transfer/initiate (without).
type transferStarted struct {
	TransferID string `json:"transferId"`
	Message    string `json:"message"`
	Status     string `json:"status,omitempty"`
}

// controlResult answers the Fastr transfers' cancel, pause and resume; each
// sets its own server* field.
type controlResult struct {
	Success         bool   `json:"success"`
	Message         string `json:"message"`
	ServerPaused    *bool  `json:"serverPaused,omitempty"`
	ServerResumed   *bool  `json:"serverResumed,omitempty"`
	ServerCancelled *bool  `json:"serverCancelled,omitempty"`
	ServerStatus    string `json:"serverStatus,omitempty"`
}
